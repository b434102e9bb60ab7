import type { ValueRef } from '../../graph/builder.ts';
import { activation } from './activations.ts';
import { type BlockContext, child } from './context.ts';
import { conv2d, groupNorm, linear } from './layers.ts';

export interface ResnetOptions {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly eps: number;
  /** Spatial size [H, W] (static). */
  readonly spatial: readonly [number, number];
  /** Time-embedding width; absent for the VAE's resnets (no temb). */
  readonly tembChannels?: number;
  /** @default 'silu' */
  readonly act?: string;
  /** Output divided by this (diffusers output_scale_factor). @default 1 */
  readonly outputScaleFactor?: number;
  /** GroupNorm statistics over runs of this many consecutive batch items (a clip's frames). @default 1 (per item) */
  readonly normFrames?: number;
}

/**
 * diffusers `ResnetBlock2D` (time_embedding_norm 'default'):
 * h = conv1(act(norm1(x))) + time_emb_proj(act(temb)); h = conv2(act(norm2(h))); out = (shortcut(x) + h) / scale.
 * x [B, Cin, H, W], temb [B, T] -> [B, Cout, H, W]
 */
export function resnetBlock(ctx: BlockContext, prefix: string, x: ValueRef, temb: ValueRef | undefined, options: ResnetOptions): ValueRef {
  const { g } = ctx;
  const { inChannels, outChannels, groups, eps, spatial } = options;
  const act = options.act ?? 'silu';
  let h = groupNorm(ctx, child(prefix, 'norm1'), x, inChannels, groups, eps, spatial, options.normFrames); // [B, Cin, H, W]
  h = activation(g, act, h);
  h = conv2d(ctx, child(prefix, 'conv1'), h, inChannels, outChannels); // [B, Cout, H, W]
  if (temb && options.tembChannels) {
    const t = linear(ctx, child(prefix, 'time_emb_proj'), activation(g, act, temb), options.tembChannels, outChannels); // [B, Cout]
    h = g.add(h, g.unsqueeze(t, [2, 3])); // [B, Cout, H, W]
  }
  h = groupNorm(ctx, child(prefix, 'norm2'), h, outChannels, groups, eps, spatial, options.normFrames);
  h = activation(g, act, h);
  // dropout is the identity at inference
  h = conv2d(ctx, child(prefix, 'conv2'), h, outChannels, outChannels); // [B, Cout, H, W]
  const shortcut = inChannels === outChannels ? x : conv2d(ctx, child(prefix, 'conv_shortcut'), x, inChannels, outChannels, { kernel: 1 }); // [B, Cout, H, W]
  const sum = g.add(shortcut, h);
  const scale = options.outputScaleFactor ?? 1;
  return scale === 1 ? sum : g.div(sum, g.scalar(scale)); // [B, Cout, H, W]
}
