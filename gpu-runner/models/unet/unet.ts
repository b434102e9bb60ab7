import { GraphBuilder, type GraphModel, type ValueRef } from '../../graph/builder.ts';
import type { AttentionPath } from '../blocks/attention.ts';
import type { BlockContext } from '../blocks/context.ts';
import { conv2d, groupNorm, linear } from '../blocks/layers.ts';
import { timestepProjection } from '../blocks/timestep.ts';
import type { WeightSource } from '../weights.ts';
import { getDownBlock, getMidBlock, getUpBlock, type Skip, type UNetBlockEnv } from './blocks.ts';
import { headsPerBlock, perBlock, type UNetConfig } from './config.ts';
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
  /** Attention capture/injection and token merging. @default NO_HOOKS */
  readonly hooks?: AttentionHooks;
  /** Attention kernel where no hook needs probabilities. @default 'fused' (measured faster on ORT CPU) */
  readonly attention?: AttentionPath;
  /** Element type of the `timestep` input (its rank is free: 0-dim or [B]). @default 'int64' */
  readonly timestepDType?: 'int64' | 'float32';
  /** Text tokens per prompt. @default 77 */
  readonly contextTokens?: number;
  /** @default 'keep' */
  readonly initializers?: 'keep' | 'discard';
  /** @default 'float32' */
  readonly weightStorage?: 'float32' | 'float16';
  /** Where the config came from, for error messages. @default 'unet/config.json' */
  readonly origin?: string;
}

/**
 * diffusers `UNet2DConditionModel` as an ONNX graph (optionally pseudo-3D with hooks).
 * Inputs: sample [B, in, h, w] float32, timestep (int64 or float32, 0-dim or [B]),
 * encoder_hidden_states [B, 77, cross_attention_dim]. Output: sample [B, out, h, w].
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
  const g = new GraphBuilder({ name: 'unet', initializers: options.initializers, weightStorage: options.weightStorage });
  const ctx: BlockContext = { g, weights };

  const sample = g.input('sample', 'float32', ['batch', config.in_channels, height, width]);
  const timestep = g.input('timestep', options.timestepDType ?? 'int64', undefined);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', contextTokens, config.cross_attention_dim]);

  // 1. time embedding
  const tembChannels = boc[0] * 4;
  const tproj = timestepProjection(g, timestep, sample, { channels: boc[0], flipSinToCos: config.flip_sin_to_cos, freqShift: config.freq_shift }); // [B, C0]
  let temb = linear(ctx, 'time_embedding.linear_1', tproj, boc[0], tembChannels); // [B, 4·C0]
  temb = linear(ctx, 'time_embedding.linear_2', g.silu(temb), tembChannels, tembChannels); // [B, 4·C0]

  // 2. pre-process
  let h: ValueRef = sample;
  if (config.center_input_sample) h = g.sub(g.mul(h, g.scalar(2)), g.scalar(1));
  h = conv2d(ctx, 'conv_in', h, config.in_channels, boc[0], { kernel: config.conv_in_kernel }); // [B, C0, h, w]

  const env: UNetBlockEnv = {
    ctx, config, temb, tembChannels, context, contextTokens, frames,
    crossFrameMinChannels: options.crossFrameMinChannels ?? boc[Math.min(1, blocks - 1)],
    hooks: options.hooks ?? NO_HOOKS,
    attention: options.attention ?? 'fused',
  };
  const heads = headsPerBlock(config);
  const layers = boc.map((_, i) => perBlock(config.transformer_layers_per_block, i, 'transformer_layers_per_block', blocks));

  // 3. down
  const skips: Skip[] = [{ value: h, channels: boc[0], size: [height, width] }];
  let size: readonly [number, number] = [height, width];
  config.down_block_types.forEach((type, i) => {
    const result = g.scope(`down_blocks.${i}`, () => getDownBlock(type, env, h, {
      index: i, inChannels: i === 0 ? boc[0] : boc[i - 1], outChannels: boc[i], heads: heads[i],
      transformerLayers: layers[i], isFinal: i === blocks - 1, size,
    }, origin));
    h = result.hidden;
    size = result.size;
    skips.push(...result.skips);
  });

  // 4. mid
  h = g.scope('mid_block', () => getMidBlock(config.mid_block_type, env, h, boc[blocks - 1], heads[blocks - 1], layers[blocks - 1], size, origin));

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
  h = groupNorm(ctx, 'conv_norm_out', h, boc[0], config.norm_num_groups, config.norm_eps, [height, width]);
  h = g.silu(h);
  h = conv2d(ctx, 'conv_out', h, boc[0], config.out_channels, { kernel: config.conv_out_kernel }); // [B, out, h, w]
  g.output(h, 'out_sample', 'float32', ['batch', config.out_channels, height, width]);
  return g.build();
}
