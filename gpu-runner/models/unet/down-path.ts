/**
 * The encoder half that the UNet and the ControlNet share (diffusers' ControlNetModel is a copy of
 * UNet2DConditionModel's time embedding, conv_in, down blocks and mid block): built here once, used by both.
 */
import type { ValueRef } from '../../graph/builder.ts';
import type { BlockContext } from '../blocks/context.ts';
import { conv2d, linear } from '../blocks/layers.ts';
import { timestepProjection } from '../blocks/timestep.ts';
import { getDownBlock, getMidBlock, type Skip, type UNetBlockConfig, type UNetBlockEnv } from './blocks.ts';
import { headsPerBlock, perBlock, type UNetConfig } from './config.ts';

/** The config keys the shared encoder half reads. */
export type UNetDownPathConfig = UNetBlockConfig & Pick<UNetConfig, 'in_channels' | 'conv_in_kernel' | 'center_input_sample'
  | 'flip_sin_to_cos' | 'freq_shift' | 'down_block_types' | 'mid_block_type' | 'transformer_layers_per_block'
  | 'attention_head_dim' | 'num_attention_heads'>;

/** The time embedding: sinusoidal projection, linear_1, SiLU, linear_2. @returns temb [B, 4·C0] and its width. */
export function timeEmbedding(ctx: BlockContext, config: UNetDownPathConfig, timestep: ValueRef, sample: ValueRef): { temb: ValueRef; channels: number } {
  const { g } = ctx;
  const c0 = config.block_out_channels[0];
  const channels = c0 * 4;
  // scoped by module path, so a float16 graph keeps these nodes in float32 (graph/float16.ts)
  const projected = g.scope('time_proj', () => timestepProjection(g, timestep, sample, { channels: c0, flipSinToCos: config.flip_sin_to_cos, freqShift: config.freq_shift })); // [B, C0]
  const temb = g.scope('time_embedding', () => {
    const hidden = linear(ctx, 'time_embedding.linear_1', projected, c0, channels); // [B, 4·C0]
    return linear(ctx, 'time_embedding.linear_2', g.silu(hidden), channels, channels); // [B, 4·C0]
  });
  return { temb, channels };
}

/** Pre-processing: optional centring, then conv_in. sample [B, in, h, w] -> [B, C0, h, w] */
export function convIn(ctx: BlockContext, config: UNetDownPathConfig, sample: ValueRef): ValueRef {
  const { g } = ctx;
  const h = config.center_input_sample ? g.sub(g.mul(sample, g.scalar(2)), g.scalar(1)) : sample;
  return conv2d(ctx, 'conv_in', h, config.in_channels, config.block_out_channels[0], { kernel: config.conv_in_kernel }); // [B, C0, h, w]
}

/** Heads and transformer depth of each block level (the mid block uses the last level's). */
export function blockLayout(config: UNetDownPathConfig): { heads: number[]; layers: number[] } {
  const blocks = config.block_out_channels.length;
  return {
    heads: headsPerBlock(config),
    layers: config.block_out_channels.map((_, i) => perBlock(config.transformer_layers_per_block, i, 'transformer_layers_per_block', blocks)),
  };
}

/** What the down path hands on: the last hidden state, its size, and every skip feature (conv_in's first). */
export interface DownPathResult {
  readonly hidden: ValueRef;
  readonly size: readonly [number, number];
  readonly skips: Skip[];
}

/**
 * The down blocks from the conv_in output `h` [B, C0, H, W]. The skips are diffusers' `down_block_res_samples`
 * in order: `h` itself, then each resnet/transformer output and each downsampler output.
 */
export function downPath(env: UNetBlockEnv & { readonly config: UNetDownPathConfig }, h: ValueRef, size: readonly [number, number], origin: string): DownPathResult {
  const { config } = env;
  const boc = config.block_out_channels;
  const { heads, layers } = blockLayout(config);
  const skips: Skip[] = [{ value: h, channels: boc[0], size }];
  let hidden = h;
  let current = size;
  config.down_block_types.forEach((type, i) => {
    const result = env.ctx.g.scope(`down_blocks.${i}`, () => getDownBlock(type, env, hidden, {
      index: i, inChannels: i === 0 ? boc[0] : boc[i - 1], outChannels: boc[i], heads: heads[i],
      transformerLayers: layers[i], isFinal: i === boc.length - 1, size: current,
    }, origin));
    hidden = result.hidden;
    current = result.size;
    skips.push(...result.skips);
  });
  return { hidden, size: current, skips };
}

/** The mid block on the down path's output. [B, C_last, h, w] -> same */
export function midBlock(env: UNetBlockEnv & { readonly config: UNetDownPathConfig }, h: ValueRef, size: readonly [number, number], origin: string): ValueRef {
  const { config } = env;
  const last = config.block_out_channels.length - 1;
  const { heads, layers } = blockLayout(config);
  return env.ctx.g.scope('mid_block', () => getMidBlock(config.mid_block_type, env, h, config.block_out_channels[last], heads[last], layers[last], size, origin));
}
