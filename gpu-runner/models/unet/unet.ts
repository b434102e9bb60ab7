import { GraphBuilder, type GraphModel } from '../../graph/builder.ts';
import type { AttentionPath } from '../blocks/attention.ts';
import type { BlockContext } from '../blocks/context.ts';
import { conv2d, groupNorm } from '../blocks/layers.ts';
import type { WeightSource } from '../weights.ts';
import { getUpBlock, type Skip, type UNetBlockEnv } from './blocks.ts';
import type { UNetConfig } from './config.ts';
import { blockLayout, convIn, downPath, midBlock, timeEmbedding } from './down-path.ts';
import { type AttentionHooks, NO_HOOKS } from './hooks.ts';

export interface UNetGraphOptions {
  /** Latent height. @default config.sample_size */
  readonly height?: number;
  /** Latent width. @default config.sample_size */
  readonly width?: number;
  /**
   * Frames per group F (pseudo-3D, method.md §3.5): the batch is groups·F frames. In transformer blocks with
   * at least `crossFrameMinChannels` channels, self-attention takes keys/values from the group's middle frame.
   * 1 gives the plain 2-D UNet. @default 1
   */
  readonly frames?: number;
  /** @default block_out_channels[1] (640 for SD1.5), or block_out_channels[0] with one block */
  readonly crossFrameMinChannels?: number;
  /**
   * Fully cross-frame attention (ControlVideo): every self-attention attends over the tokens of all `frames`
   * frames of its group as one sequence, instead of the middle frame's. @default false
   */
  readonly fullCrossFrame?: boolean;
  /**
   * With `fullCrossFrame`: keys/values come from the first `keyFrames` frames of each group only, which every frame
   * attends to (ControlVideo's hierarchical sampler: a run of frames attending to its two key frames). @default - all
   */
  readonly keyFrames?: number;
  /**
   * GroupNorm statistics of the ResNet blocks and `conv_norm_out`: 'clip' pools each group's `frames` frames
   * (FateZero's and ControlVideo's inflated UNets normalise the 5-D clip tensor); 'frame' normalises every
   * batch item alone (diffusers' 2-D UNet). The transformers' own GroupNorm is per frame either way.
   * @default 'frame'
   */
  readonly groupNorm?: 'clip' | 'frame';
  /** Attention capture/injection and token merging. @default NO_HOOKS */
  readonly hooks?: AttentionHooks;
  /** Attention kernel where no hook needs probabilities. @default 'fused' (measured faster on ORT CPU) */
  readonly attention?: AttentionPath;
  /** Element type of the `timestep` input (its rank is free: 0-dim or [B]). @default 'int64' */
  readonly timestepDType?: 'int64' | 'float32';
  /** Text tokens per prompt. @default 77 */
  readonly contextTokens?: number;
  /**
   * Take a ControlNet's residuals as inputs `down_block_additional_residuals.{i}` (one per skip feature, conv_in's
   * first) and `mid_block_additional_residual`, added where diffusers adds them. @default false
   */
  readonly controlResiduals?: boolean;
  /** @default 'keep' */
  readonly initializers?: 'keep' | 'discard';
  /** @default 'float32' */
  readonly weightStorage?: 'float32' | 'float16';
  /** Query rows per attention chunk where no hook needs whole maps (bounded memory at 512 px). @default - unchunked */
  readonly attentionQueryChunk?: number;
  /** Where the config came from, for error messages. @default 'unet/config.json' */
  readonly origin?: string;
}

/**
 * diffusers `UNet2DConditionModel` as an ONNX graph (optionally pseudo-3D with hooks).
 * Inputs: sample [B, in, h, w] float32, timestep (int64 or float32, 0-dim or [B]),
 * encoder_hidden_states [B, 77, cross_attention_dim] (+ the ControlNet residuals with `controlResiduals`).
 * Output: sample [B, out, h, w].
 *
 * @example
 * const model = buildUNetGraph(config, weights, { frames: 8, height: 32, width: 32 });
 * saveModel(model, cacheDir, 'unet');
 */
export function buildUNetGraph(config: UNetConfig, weights: WeightSource, options: UNetGraphOptions = {}): GraphModel {
  const origin = options.origin ?? 'unet/config.json';
  const boc = config.block_out_channels;
  const blocks = boc.length;
  const height = options.height ?? config.sample_size;
  const width = options.width ?? config.sample_size;
  const frames = options.frames ?? 1;
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`UNet option frames = ${frames}: must be a positive integer (1 = plain 2-D UNet).`);
  const contextTokens = options.contextTokens ?? 77;
  const g = new GraphBuilder({ name: 'unet', initializers: options.initializers, weightStorage: options.weightStorage, attentionQueryChunk: options.attentionQueryChunk });
  const ctx: BlockContext = { g, weights };

  const sample = g.input('sample', 'float32', ['batch', config.in_channels, height, width]);
  const timestep = g.input('timestep', options.timestepDType ?? 'int64', undefined);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', contextTokens, config.cross_attention_dim]);

  // 1. time embedding, 2. pre-process (the encoder half is shared with the ControlNet: down-path.ts)
  const { temb, channels: tembChannels } = timeEmbedding(ctx, config, timestep, sample); // [B, 4·C0]
  const h0 = convIn(ctx, config, sample); // [B, C0, h, w]

  const env: UNetBlockEnv & { readonly config: UNetConfig } = {
    ctx, config, temb, tembChannels, context, contextTokens, frames,
    crossFrameMinChannels: options.crossFrameMinChannels ?? boc[Math.min(1, blocks - 1)],
    fullCrossFrame: options.fullCrossFrame ?? false,
    keyFrames: options.keyFrames,
    normFrames: options.groupNorm === 'clip' ? frames : 1,
    hooks: options.hooks ?? NO_HOOKS,
    attention: options.attention ?? 'fused',
  };
  const { heads, layers } = blockLayout(config);

  // 3. down; a ControlNet's residuals join every skip feature (diffusers down_block_additional_residuals)
  const down = downPath(env, h0, [height, width], origin);
  const skips = options.controlResiduals ? addControlResiduals(g, down.skips) : [...down.skips];
  let size = down.size;

  // 4. mid (+ mid_block_additional_residual)
  let h = midBlock(env, down.hidden, size, origin);
  if (options.controlResiduals) {
    h = g.add(h, g.input('mid_block_additional_residual', 'float32', ['batch', boc[blocks - 1], size[0], size[1]])); // [B, C_last, h', w']
  }

  // 5. up
  const reversed = [...boc].reverse();
  let prevOutput = reversed[0];
  config.up_block_types.forEach((type, i) => {
    const taken = skips.splice(skips.length - (config.layers_per_block + 1)).reverse();
    const isFinal = i === blocks - 1;
    const upsampleSize = isFinal ? undefined : skips[skips.length - 1].size;
    const result = g.scope(`up_blocks.${i}`, () => getUpBlock(type, env, h, {
      index: i, prevOutputChannels: prevOutput, outChannels: reversed[i], heads: heads[blocks - 1 - i],
      transformerLayers: layers[blocks - 1 - i], isFinal, size, skips: taken, upsampleSize,
    }, origin));
    h = result.hidden;
    size = result.size;
    prevOutput = reversed[i];
  });

  // 6. post-process
  h = groupNorm(ctx, 'conv_norm_out', h, boc[0], config.norm_num_groups, config.norm_eps, [height, width], env.normFrames);
  h = g.silu(h);
  h = conv2d(ctx, 'conv_out', h, boc[0], config.out_channels, { kernel: config.conv_out_kernel }); // [B, out, h, w]
  g.output(h, 'out_sample', 'float32', ['batch', config.out_channels, height, width]);
  return g.build();
}

/** Adds the graph inputs `down_block_additional_residuals.{i}` to the skip features, in diffusers' order. */
function addControlResiduals(g: GraphBuilder, skips: readonly Skip[]): Skip[] {
  return skips.map((skip, i) => {
    const residual = g.input(`down_block_additional_residuals.${i}`, 'float32', ['batch', skip.channels, skip.size[0], skip.size[1]]);
    return { ...skip, value: g.add(skip.value, residual) }; // [B, C_i, h_i, w_i]
  });
}
