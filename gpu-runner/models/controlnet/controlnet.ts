import { GraphBuilder, type GraphModel, type ValueRef } from '../../graph/builder.ts';
import type { AttentionPath } from '../blocks/attention.ts';
import { type BlockContext, child } from '../blocks/context.ts';
import { conv2d } from '../blocks/layers.ts';
import type { UNetBlockEnv } from '../unet/blocks.ts';
import { convIn, downPath, midBlock, timeEmbedding, type UNetDownPathConfig } from '../unet/down-path.ts';
import { type AttentionHooks, NO_HOOKS } from '../unet/hooks.ts';
import type { WeightSource } from '../weights.ts';
import { conditioningScaleFactor, controlNetDownPathConfig, type ControlNetConfig } from './config.ts';

export interface ControlNetGraphOptions {
  /** Latent height (the control image is `conditioningScaleFactor` times larger). @default 64 */
  readonly height?: number;
  /** Latent width. @default 64 */
  readonly width?: number;
  /** Element type of the `timestep` input (its rank is free: 0-dim or [B]). @default 'int64' */
  readonly timestepDType?: 'int64' | 'float32';
  /** Text tokens per prompt. @default 77 */
  readonly contextTokens?: number;
  /** Frames per group F (the batch is groups·F). Only matters with `fullCrossFrame`. @default 1 */
  readonly frames?: number;
  /** Every self-attention attends over all F frames of its group (ControlVideo). @default false */
  readonly fullCrossFrame?: boolean;
  /** With `fullCrossFrame`: keys/values from the first `keyFrames` frames of each group only. @default - all frames */
  readonly keyFrames?: number;
  /** GroupNorm statistics of the ResNet blocks: per frame, or pooled over each group's frames (an inflated 3-D ControlNet). @default 'frame' */
  readonly groupNorm?: 'clip' | 'frame';
  /** Token merging (and other attention hooks), as in the UNet. @default NO_HOOKS */
  readonly hooks?: AttentionHooks;
  /** Self-attention of blocks at least this wide counts as spanning frames (where clip-scope merging applies). @default Infinity */
  readonly crossFrameMinChannels?: number;
  /** Query rows per attention chunk where no hook needs whole maps (bounded memory). @default - unchunked */
  readonly attentionQueryChunk?: number;
  /** Attention kernel. @default 'fused' */
  readonly attention?: AttentionPath;
  /** @default 'keep' */
  readonly initializers?: 'keep' | 'discard';
  /** @default 'float32' */
  readonly weightStorage?: 'float32' | 'float16';
  /** Where the config came from, for error messages. @default 'controlnet/config.json' */
  readonly origin?: string;
}

/** Graph output names, in diffusers' order: one residual per UNet skip feature, then the mid block's. */
export function controlNetOutputNames(config: ControlNetConfig): string[] {
  // conv_in's output, layers_per_block per level, a downsampler on every level but the last
  const skips = config.block_out_channels.length * (config.layers_per_block + 1);
  return [...Array.from({ length: skips }, (_, i) => `down_block_res_samples.${i}`), 'mid_block_res_sample'];
}

/**
 * The UNet input a ControlNet output feeds: `down_block_res_samples.{i}` -> `down_block_additional_residuals.{i}`,
 * `mid_block_res_sample` -> `mid_block_additional_residual` (diffusers' argument names on each side).
 * @throws Error for a name that is not a ControlNet output.
 */
export function unetResidualInputName(outputName: string): string {
  if (outputName === 'mid_block_res_sample') return 'mid_block_additional_residual';
  const down = /^down_block_res_samples\.(\d+)$/.exec(outputName);
  if (!down) throw new Error(`'${outputName}' is not a ControlNet output; expected down_block_res_samples.{i} or mid_block_res_sample.`);
  return `down_block_additional_residuals.${down[1]}`;
}

/**
 * diffusers `ControlNetModel` (guess_mode off) as an ONNX graph.
 * Inputs: sample [B, in, h, w] float32, timestep (int64 or float32, 0-dim or [B]), encoder_hidden_states
 * [B, 77, cross_attention_dim], controlnet_cond [B, conditioning_channels, s·h, s·w] (an image in [0, 1]; s = 8 for
 * SD1.5), conditioning_scale float32 0-dim. Outputs: `down_block_res_samples.{i}` [B, C_i, h_i, w_i] and
 * `mid_block_res_sample`, each already multiplied by conditioning_scale; the UNet built with `controlResiduals`
 * takes them as `down_block_additional_residuals.{i}` and `mid_block_additional_residual`.
 *
 * @example
 * const model = buildControlNetGraph(config, weights, { height: 64, width: 64 });
 */
export function buildControlNetGraph(config: ControlNetConfig, weights: WeightSource, options: ControlNetGraphOptions = {}): GraphModel {
  const origin = options.origin ?? 'controlnet/config.json';
  const unetConfig = controlNetDownPathConfig(config);
  const boc = config.block_out_channels;
  const height = options.height ?? 64;
  const width = options.width ?? 64;
  const scale = conditioningScaleFactor(config);
  const frames = options.frames ?? 1;
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`ControlNet option frames = ${frames}: must be a positive integer.`);
  const contextTokens = options.contextTokens ?? 77;
  const g = new GraphBuilder({ name: 'controlnet', initializers: options.initializers, weightStorage: options.weightStorage, attentionQueryChunk: options.attentionQueryChunk });
  const ctx: BlockContext = { g, weights };

  const sample = g.input('sample', 'float32', ['batch', config.in_channels, height, width]);
  const timestep = g.input('timestep', options.timestepDType ?? 'int64', undefined);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', contextTokens, config.cross_attention_dim]);
  const cond = g.input('controlnet_cond', 'float32', ['batch', config.conditioning_channels, height * scale, width * scale]);
  const conditioningScale = g.input('conditioning_scale', 'float32', []);

  // 1. time embedding, 2. conv_in plus the embedded control image
  const { temb, channels: tembChannels } = timeEmbedding(ctx, unetConfig, timestep, sample); // [B, 4·C0]
  const image = config.controlnet_conditioning_channel_order === 'bgr' ? g.gather(cond, g.constInt64([2, 1, 0]), 1) : cond;
  const h0 = g.add(convIn(ctx, unetConfig, sample), conditioningEmbedding(ctx, config, image, boc[0])); // [B, C0, h, w]

  // 3. down, 4. mid: the UNet's own blocks
  const env: UNetBlockEnv & { readonly config: UNetDownPathConfig } = {
    ctx, config: unetConfig, temb, tembChannels, context, contextTokens,
    frames, crossFrameMinChannels: options.crossFrameMinChannels ?? Infinity, fullCrossFrame: options.fullCrossFrame ?? false,
    keyFrames: options.keyFrames, normFrames: options.groupNorm === 'clip' ? frames : 1,
    hooks: options.hooks ?? NO_HOOKS, attention: options.attention ?? 'fused',
  };
  const down = downPath(env, h0, [height, width], origin);
  const mid = midBlock(env, down.hidden, down.size, origin); // [B, C_last, h', w']

  // 5. zero convolutions, then the scale (and the spatial mean of global-pool ControlNets)
  const finish = (x: ValueRef): ValueRef => {
    const scaled = g.mul(x, conditioningScale);
    return config.global_pool_conditions ? g.reduceMean(scaled, [2, 3], true) : scaled; // [B, C, h, w] or [B, C, 1, 1]
  };
  const names = controlNetOutputNames(config);
  if (names.length !== down.skips.length + 1) throw new Error(`${origin}: expected ${names.length - 1} skip features, built ${down.skips.length}.`);
  down.skips.forEach((skip, i) => {
    const residual = conv2d(ctx, `controlnet_down_blocks.${i}`, skip.value, skip.channels, skip.channels, { kernel: 1 }); // [B, C_i, h_i, w_i]
    const pooled = config.global_pool_conditions ? [1, 1] : skip.size;
    g.output(finish(residual), names[i], 'float32', ['batch', skip.channels, pooled[0], pooled[1]]);
  });
  const last = boc[boc.length - 1];
  const midResidual = conv2d(ctx, 'controlnet_mid_block', mid, last, last, { kernel: 1 }); // [B, C_last, h', w']
  const pooled = config.global_pool_conditions ? [1, 1] : down.size;
  g.output(finish(midResidual), 'mid_block_res_sample', 'float32', ['batch', last, pooled[0], pooled[1]]);
  return g.build();
}

/**
 * diffusers `ControlNetConditioningEmbedding`: conv_in + SiLU, then per stage a 3x3 conv + SiLU and a stride-2
 * 3x3 conv + SiLU into the next width, then the zero-initialised conv_out into the UNet's first width.
 * image [B, cc, s·h, s·w] -> [B, C0, h, w]
 */
function conditioningEmbedding(ctx: BlockContext, config: ControlNetConfig, image: ValueRef, outChannels: number): ValueRef {
  const { g } = ctx;
  const widths = config.conditioning_embedding_out_channels;
  const prefix = 'controlnet_cond_embedding';
  let h = g.silu(conv2d(ctx, child(prefix, 'conv_in'), image, config.conditioning_channels, widths[0])); // [B, w0, S, S]
  for (let i = 0; i < widths.length - 1; i++) {
    h = g.silu(conv2d(ctx, child(prefix, `blocks.${2 * i}`), h, widths[i], widths[i])); // [B, w_i, S/2^i, ..]
    h = g.silu(conv2d(ctx, child(prefix, `blocks.${2 * i + 1}`), h, widths[i], widths[i + 1], { stride: 2 })); // [B, w_i+1, S/2^(i+1), ..]
  }
  return conv2d(ctx, child(prefix, 'conv_out'), h, widths[widths.length - 1], outChannels); // [B, C0, h, w]
}
