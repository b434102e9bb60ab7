import { GraphBuilder, type GraphModel, type ValueRef } from '../../graph/builder.ts';
import { type AttentionPath, attentionModule } from '../blocks/attention.ts';
import type { BlockContext } from '../blocks/context.ts';
import { conv2d, groupNorm } from '../blocks/layers.ts';
import { downsample, upsample } from '../blocks/resample.ts';
import { resnetBlock } from '../blocks/resnet.ts';
import type { WeightSource } from '../weights.ts';
import type { VAEConfig } from './config.ts';

/** diffusers fixes the VAE's GroupNorm eps at 1e-6 (resnets, mid attention, conv_norm_out). */
const VAE_NORM_EPS = 1e-6;

export interface VAEGraphOptions {
  /** Image height (encoder) or latent height (decoder). @default sample_size (encoder), sample_size / 2^(blocks-1) (decoder) */
  readonly height?: number;
  readonly width?: number;
  /** Mid-block attention kernel. @default 'fused' */
  readonly attention?: AttentionPath;
  readonly initializers?: 'keep' | 'discard';
  readonly weightStorage?: 'float32' | 'float16';
  /** For error messages. @default 'vae/config.json' */
  readonly origin?: string;
}

type Size = readonly [number, number];

function resnet(ctx: BlockContext, config: VAEConfig, prefix: string, x: ValueRef, inChannels: number, outChannels: number, size: Size): ValueRef {
  return resnetBlock(ctx, prefix, x, undefined, {
    inChannels, outChannels, groups: config.norm_num_groups, eps: VAE_NORM_EPS, spatial: size, act: config.act_fn,
  });
}

/** diffusers `UNetMidBlock2D`: resnet, single-head self-attention (with GroupNorm and residual), resnet. */
function midBlock(ctx: BlockContext, config: VAEConfig, prefix: string, x: ValueRef, channels: number, size: Size, attention: AttentionPath): ValueRef {
  const { g } = ctx;
  let h = resnet(ctx, config, `${prefix}.resnets.0`, x, channels, channels, size);
  if (config.mid_block_add_attention) {
    const attnPrefix = `${prefix}.attentions.0`;
    const tokens = size[0] * size[1];
    const normed = groupNorm(ctx, `${attnPrefix}.group_norm`, h, channels, config.norm_num_groups, VAE_NORM_EPS, size); // [B, C, H, W]
    const seq = g.transpose(g.reshape(normed, [0, channels, tokens]), [0, 2, 1]); // [B, HW, C]
    const attended = attentionModule(ctx, attnPrefix, seq, seq, channels, tokens, tokens, { heads: 1, path: attention, qkvBias: true }); // [B, HW, C]
    const back = g.reshape(g.transpose(attended, [0, 2, 1]), [0, channels, size[0], size[1]]); // [B, C, H, W]
    h = g.add(back, h); // residual_connection, rescale_output_factor 1
  }
  return resnet(ctx, config, `${prefix}.resnets.1`, h, channels, channels, size);
}

function blockTypeError(origin: string, key: string, index: number, type: string, allowed: string): Error {
  return new Error(`${origin}: ${key}[${index}] = "${type}" is not supported; supported: ${allowed}.`);
}

/**
 * AutoencoderKL encoder: sample [B, in, H, W] -> latent_dist_mean, latent_dist_logvar [B, latent, H/f, W/f]
 * (quant_conv applied, logvar clamped to [-30, 20]; no scaling_factor).
 */
export function buildVAEEncoderGraph(config: VAEConfig, weights: WeightSource, options: VAEGraphOptions = {}): GraphModel {
  const origin = options.origin ?? 'vae/config.json';
  const boc = config.block_out_channels;
  const g = new GraphBuilder({ name: 'vae_encoder', initializers: options.initializers, weightStorage: options.weightStorage });
  const ctx: BlockContext = { g, weights };
  let size: Size = [options.height ?? config.sample_size, options.width ?? config.sample_size];
  const sample = g.input('sample', 'float32', ['batch', config.in_channels, size[0], size[1]]);
  let h = conv2d(ctx, 'encoder.conv_in', sample, config.in_channels, boc[0]); // [B, C0, H, W]
  config.down_block_types.forEach((type, i) => {
    if (type !== 'DownEncoderBlock2D') throw blockTypeError(origin, 'down_block_types', i, type, 'DownEncoderBlock2D');
    const prefix = `encoder.down_blocks.${i}`;
    g.scope(prefix, () => {
      for (let j = 0; j < config.layers_per_block; j++) {
        h = resnet(ctx, config, `${prefix}.resnets.${j}`, h, j === 0 ? (i === 0 ? boc[0] : boc[i - 1]) : boc[i], boc[i], size);
      }
      if (i < boc.length - 1) {
        h = downsample(ctx, `${prefix}.downsamplers.0`, h, boc[i], boc[i], 'right-bottom'); // [B, Ci, H/2, W/2]
        size = [Math.floor((size[0] - 2) / 2) + 1, Math.floor((size[1] - 2) / 2) + 1];
      }
    });
  });
  const last = boc[boc.length - 1];
  h = g.scope('encoder.mid_block', () => midBlock(ctx, config, 'encoder.mid_block', h, last, size, options.attention ?? 'fused'));
  h = g.silu(groupNorm(ctx, 'encoder.conv_norm_out', h, last, config.norm_num_groups, VAE_NORM_EPS, size));
  h = conv2d(ctx, 'encoder.conv_out', h, last, 2 * config.latent_channels); // [B, 2·latent, h, w]
  const moments = conv2d(ctx, 'quant_conv', h, 2 * config.latent_channels, 2 * config.latent_channels, { kernel: 1 });
  const [mean, logvar] = g.split(moments, [config.latent_channels, config.latent_channels], 1); // [B, latent, h, w] x2
  const clamped = g.op1('Clip', [logvar, g.scalar(-30), g.scalar(20)]);
  const dims = ['batch', config.latent_channels, size[0], size[1]];
  g.output(mean, 'latent_dist_mean', 'float32', dims);
  g.output(clamped, 'latent_dist_logvar', 'float32', dims);
  return g.build();
}

/**
 * AutoencoderKL decoder: latent z [B, latent, h, w] (already divided by scaling_factor) -> sample [B, out, H, W]
 * (post_quant_conv applied; raw output, not clamped).
 */
export function buildVAEDecoderGraph(config: VAEConfig, weights: WeightSource, options: VAEGraphOptions = {}): GraphModel {
  const origin = options.origin ?? 'vae/config.json';
  const boc = config.block_out_channels;
  const factor = 2 ** (boc.length - 1);
  const g = new GraphBuilder({ name: 'vae_decoder', initializers: options.initializers, weightStorage: options.weightStorage });
  const ctx: BlockContext = { g, weights };
  let size: Size = [options.height ?? Math.floor(config.sample_size / factor), options.width ?? Math.floor(config.sample_size / factor)];
  const latent = g.input('latent', 'float32', ['batch', config.latent_channels, size[0], size[1]]);
  const reversed = [...boc].reverse();
  let h = conv2d(ctx, 'post_quant_conv', latent, config.latent_channels, config.latent_channels, { kernel: 1 });
  h = conv2d(ctx, 'decoder.conv_in', h, config.latent_channels, reversed[0]); // [B, C_last, h, w]
  h = g.scope('decoder.mid_block', () => midBlock(ctx, config, 'decoder.mid_block', h, reversed[0], size, options.attention ?? 'fused'));
  let prev = reversed[0];
  config.up_block_types.forEach((type, i) => {
    if (type !== 'UpDecoderBlock2D') throw blockTypeError(origin, 'up_block_types', i, type, 'UpDecoderBlock2D');
    const prefix = `decoder.up_blocks.${i}`;
    g.scope(prefix, () => {
      for (let j = 0; j < config.layers_per_block + 1; j++) {
        h = resnet(ctx, config, `${prefix}.resnets.${j}`, h, j === 0 ? prev : reversed[i], reversed[i], size);
      }
      if (i < boc.length - 1) {
        size = [size[0] * 2, size[1] * 2];
        h = upsample(ctx, `${prefix}.upsamplers.0`, h, reversed[i], reversed[i], size); // [B, Ci, 2h, 2w]
      }
    });
    prev = reversed[i];
  });
  h = g.silu(groupNorm(ctx, 'decoder.conv_norm_out', h, boc[0], config.norm_num_groups, VAE_NORM_EPS, size));
  h = conv2d(ctx, 'decoder.conv_out', h, boc[0], config.out_channels); // [B, out, H, W]
  g.output(h, 'sample', 'float32', ['batch', config.out_channels, size[0], size[1]]);
  return g.build();
}
