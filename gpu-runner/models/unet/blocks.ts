import type { ValueRef } from '../../graph/builder.ts';
import { type BlockContext, child } from '../blocks/context.ts';
import { downsample, upsample } from '../blocks/resample.ts';
import { resnetBlock } from '../blocks/resnet.ts';
import { spatialTransformer, type TransformerPlacement } from '../blocks/transformer.ts';
import type { AttentionHooks } from './hooks.ts';
import type { AttentionPath } from '../blocks/attention.ts';
import type { UNetConfig } from './config.ts';

/** A tensor kept for a skip connection, with what the up path needs to know about it. */
export interface Skip {
  readonly value: ValueRef;
  readonly channels: number;
  readonly size: readonly [number, number];
}

/**
 * The config keys the down/mid/up block builders read. The UNet and the ControlNet (whose config.json has
 * no up path) both carry them.
 */
export type UNetBlockConfig = Pick<UNetConfig, 'block_out_channels' | 'layers_per_block' | 'downsample_padding'
  | 'mid_block_scale_factor' | 'act_fn' | 'norm_num_groups' | 'norm_eps' | 'cross_attention_dim'
  | 'use_linear_projection' | 'resnet_out_scale_factor'>;

/** Everything a UNet block builder needs besides its own channel numbers. */
export interface UNetBlockEnv {
  readonly ctx: BlockContext;
  readonly config: UNetBlockConfig;
  readonly temb: ValueRef;
  readonly tembChannels: number;
  readonly context: ValueRef;
  readonly contextTokens: number;
  readonly frames: number;
  readonly crossFrameMinChannels: number;
  /** Every self-attention sees all frames of its group (ControlVideo). @default false */
  readonly fullCrossFrame?: boolean;
  /** With `fullCrossFrame`: keys/values from the first `keyFrames` frames of each group only. @default - all frames */
  readonly keyFrames?: number;
  /** Frames whose statistics the ResNet GroupNorms pool: `frames` for FateZero's clip norm, 1 per frame. */
  readonly normFrames?: number;
  readonly hooks: AttentionHooks;
  readonly attention: AttentionPath;
}

export interface DownBlockArgs {
  readonly index: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly heads: number;
  readonly transformerLayers: number;
  readonly isFinal: boolean;
  readonly size: readonly [number, number];
}

export interface DownBlockResult {
  readonly hidden: ValueRef;
  readonly size: readonly [number, number];
  readonly skips: Skip[];
}

export interface UpBlockArgs {
  readonly index: number;
  /** Channels of the block's input (previous up block's output). */
  readonly prevOutputChannels: number;
  readonly outChannels: number;
  readonly heads: number;
  readonly transformerLayers: number;
  readonly isFinal: boolean;
  readonly size: readonly [number, number];
  /** This block's skips, in the order they are consumed (last stored first). */
  readonly skips: Skip[];
  /** Size to upsample to: the next block's skip size. */
  readonly upsampleSize: readonly [number, number] | undefined;
}

function resnet(env: UNetBlockEnv, prefix: string, x: ValueRef, inChannels: number, outChannels: number, size: readonly [number, number], outputScaleFactor?: number): ValueRef {
  return resnetBlock(env.ctx, prefix, x, env.temb, {
    inChannels,
    outChannels,
    groups: env.config.norm_num_groups,
    eps: env.config.norm_eps,
    spatial: [size[0], size[1]],
    tembChannels: env.tembChannels,
    act: env.config.act_fn,
    outputScaleFactor: outputScaleFactor ?? env.config.resnet_out_scale_factor,
    normFrames: env.normFrames,
  });
}

function transformer(env: UNetBlockEnv, prefix: string, x: ValueRef, channels: number, heads: number, layers: number, level: number, size: readonly [number, number]): ValueRef {
  const place: TransformerPlacement = {
    level,
    height: size[0],
    width: size[1],
    frames: env.frames,
    crossFrame: env.frames > 1 && channels >= env.crossFrameMinChannels,
    fullCrossFrame: env.fullCrossFrame ?? false,
    keyFrames: env.keyFrames,
    hooks: env.hooks,
    attention: env.attention,
  };
  return spatialTransformer(env.ctx, prefix, x, env.context, {
    channels,
    heads,
    contextChannels: env.config.cross_attention_dim,
    contextTokens: env.contextTokens,
    groups: env.config.norm_num_groups,
    useLinearProjection: env.config.use_linear_projection,
    layers,
  }, place);
}

/** DownBlock2D / CrossAttnDownBlock2D: resnets (+ transformers), then an optional downsampler. */
function downBlock(env: UNetBlockEnv, x: ValueRef, args: DownBlockArgs, withAttention: boolean): DownBlockResult {
  const prefix = `down_blocks.${args.index}`;
  const skips: Skip[] = [];
  let h = x;
  for (let j = 0; j < env.config.layers_per_block; j++) {
    h = resnet(env, child(prefix, `resnets.${j}`), h, j === 0 ? args.inChannels : args.outChannels, args.outChannels, args.size); // [B, Cout, H, W]
    if (withAttention) h = transformer(env, child(prefix, `attentions.${j}`), h, args.outChannels, args.heads, args.transformerLayers, args.index, args.size);
    skips.push({ value: h, channels: args.outChannels, size: args.size });
  }
  let size = args.size;
  if (!args.isFinal) {
    h = downsample(env.ctx, child(prefix, 'downsamplers.0'), h, args.outChannels, args.outChannels, 'symmetric', env.config.downsample_padding); // [B, Cout, H/2, W/2]
    const pad = env.config.downsample_padding;
    size = [Math.floor((size[0] + 2 * pad - 3) / 2) + 1, Math.floor((size[1] + 2 * pad - 3) / 2) + 1];
    skips.push({ value: h, channels: args.outChannels, size });
  }
  return { hidden: h, size, skips };
}

/** UpBlock2D / CrossAttnUpBlock2D: (concat skip, resnet (+ transformer)) x layers+1, optional upsampler. */
function upBlock(env: UNetBlockEnv, x: ValueRef, args: UpBlockArgs, withAttention: boolean): { hidden: ValueRef; size: readonly [number, number] } {
  const prefix = `up_blocks.${args.index}`;
  const level = env.config.block_out_channels.length - 1 - args.index;
  let h = x;
  let channels = args.prevOutputChannels;
  args.skips.forEach((skip, j) => {
    h = env.ctx.g.concat([h, skip.value], 1); // [B, C + Cskip, H, W]: order [h, skip]
    h = resnet(env, child(prefix, `resnets.${j}`), h, channels + skip.channels, args.outChannels, args.size);
    channels = args.outChannels;
    if (withAttention) h = transformer(env, child(prefix, `attentions.${j}`), h, args.outChannels, args.heads, args.transformerLayers, level, args.size);
  });
  if (args.isFinal || !args.upsampleSize) return { hidden: h, size: args.size };
  h = upsample(env.ctx, child(prefix, 'upsamplers.0'), h, args.outChannels, args.outChannels, args.upsampleSize); // [B, Cout, 2H, 2W]
  return { hidden: h, size: args.upsampleSize };
}

/** Down block by its config type string (diffusers `get_down_block`); unknown types fail by name. */
export function getDownBlock(type: string, env: UNetBlockEnv, x: ValueRef, args: DownBlockArgs, origin: string): DownBlockResult {
  switch (type) {
    case 'CrossAttnDownBlock2D': return downBlock(env, x, args, true);
    case 'DownBlock2D': return downBlock(env, x, args, false);
    default:
      throw new Error(`${origin}: down_block_types[${args.index}] = "${type}" is not supported; supported: CrossAttnDownBlock2D, DownBlock2D.`);
  }
}

/** Up block by its config type string (diffusers `get_up_block`); unknown types fail by name. */
export function getUpBlock(type: string, env: UNetBlockEnv, x: ValueRef, args: UpBlockArgs, origin: string): { hidden: ValueRef; size: readonly [number, number] } {
  switch (type) {
    case 'CrossAttnUpBlock2D': return upBlock(env, x, args, true);
    case 'UpBlock2D': return upBlock(env, x, args, false);
    default:
      throw new Error(`${origin}: up_block_types[${args.index}] = "${type}" is not supported; supported: CrossAttnUpBlock2D, UpBlock2D.`);
  }
}

/** Mid block by its config type string (diffusers `get_mid_block`). */
export function getMidBlock(type: string | null, env: UNetBlockEnv, x: ValueRef, channels: number, heads: number, layers: number, size: readonly [number, number], origin: string): ValueRef {
  const level = env.config.block_out_channels.length - 1;
  switch (type) {
    case 'UNetMidBlock2DCrossAttn': {
      const scale = env.config.mid_block_scale_factor;
      let h = resnet(env, 'mid_block.resnets.0', x, channels, channels, size, scale);
      h = transformer(env, 'mid_block.attentions.0', h, channels, heads, layers, level, size);
      return resnet(env, 'mid_block.resnets.1', h, channels, channels, size, scale);
    }
    case null:
      return x;
    default:
      throw new Error(`${origin}: mid_block_type = "${type}" is not supported; supported: UNetMidBlock2DCrossAttn, null.`);
  }
}
