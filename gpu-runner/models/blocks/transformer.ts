import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';
import type { AttentionHooks, AttentionSite, TokenMerge } from '../unet/hooks.ts';
import { gelu } from './activations.ts';
import { type AttentionPath, attentionModule } from './attention.ts';
import { type BlockContext, child } from './context.ts';
import { conv2d, groupNorm, layerNorm, linear } from './layers.ts';

/** Where a spatial transformer sits and how its attention is built. */
export interface TransformerPlacement {
  /** Downsample level (0 = highest resolution). */
  readonly level: number;
  readonly height: number;
  readonly width: number;
  /** Frames per group F (batch = groups·F). @default 1 */
  readonly frames: number;
  /** Self-attention takes keys/values from the group's middle frame ((F-1) div 2). */
  readonly crossFrame: boolean;
  /**
   * Fully cross-frame self-attention (ControlVideo): the tokens of all F frames of a group form one sequence of
   * F·N queries and keys. Overrides `crossFrame`. @default false
   */
  readonly fullCrossFrame?: boolean;
  /**
   * With `fullCrossFrame`: keys/values come from the first `keyFrames` frames of each group only, and every frame's
   * queries attend to them (ControlVideo's hierarchical sampler, whose in-between frames attend to their two key
   * frames). @default - all frames (queries and keys span the group)
   */
  readonly keyFrames?: number;
  readonly hooks: AttentionHooks;
  /** Path used where no hook wants probabilities. */
  readonly attention: AttentionPath;
}

export interface SpatialTransformerOptions {
  readonly channels: number;
  readonly heads: number;
  readonly contextChannels: number;
  /** Text tokens of the context (77). */
  readonly contextTokens: number;
  readonly groups: number;
  /** GroupNorm eps of the Transformer2D `norm` (diffusers fixes 1e-6). @default 1e-6 */
  readonly normEps?: number;
  readonly useLinearProjection: boolean;
  /** transformer_layers_per_block. @default 1 */
  readonly layers?: number;
}

/**
 * diffusers `Transformer2DModel` (continuous input): norm, proj_in, BasicTransformerBlocks, proj_out, residual.
 * x [B, C, H, W], context [B, 77, Cctx] -> [B, C, H, W]
 */
export function spatialTransformer(ctx: BlockContext, prefix: string, x: ValueRef, context: ValueRef, options: SpatialTransformerOptions, place: TransformerPlacement): ValueRef {
  const { g } = ctx;
  const { channels } = options;
  const { height: H, width: W } = place;
  const N = H * W;
  const normed = groupNorm(ctx, child(prefix, 'norm'), x, channels, options.groups, options.normEps ?? 1e-6, [H, W]); // [B, C, H, W]
  let tokens: ValueRef;
  if (options.useLinearProjection) {
    tokens = g.transpose(g.reshape(normed, [0, channels, N]), [0, 2, 1]); // [B, N, C]
    tokens = linear(ctx, child(prefix, 'proj_in'), tokens, channels, channels); // [B, N, C]
  } else {
    const projected = conv2d(ctx, child(prefix, 'proj_in'), normed, channels, channels, { kernel: 1 }); // [B, C, H, W]
    tokens = g.transpose(g.reshape(projected, [0, channels, N]), [0, 2, 1]); // [B, N, C]
  }
  for (let i = 0; i < (options.layers ?? 1); i++) {
    tokens = transformerBlock(ctx, child(prefix, `transformer_blocks.${i}`), tokens, context, options, place); // [B, N, C]
  }
  let out: ValueRef;
  if (options.useLinearProjection) {
    const projected = linear(ctx, child(prefix, 'proj_out'), tokens, channels, channels); // [B, N, C]
    out = g.reshape(g.transpose(projected, [0, 2, 1]), [0, channels, H, W]); // [B, C, H, W]
  } else {
    const spatial = g.reshape(g.transpose(tokens, [0, 2, 1]), [0, channels, H, W]); // [B, C, H, W]
    out = conv2d(ctx, child(prefix, 'proj_out'), spatial, channels, channels, { kernel: 1 });
  }
  return g.add(out, x); // [B, C, H, W]
}

/**
 * diffusers `BasicTransformerBlock`: x += attn1(norm1 x); x += attn2(norm2 x, ctx); x += ff(norm3 x), with
 * token merging around attn1 and probability hooks where the hooks ask for them.
 * x [B, N, C] -> [B, N, C]
 */
export function transformerBlock(ctx: BlockContext, prefix: string, x: ValueRef, context: ValueRef, options: SpatialTransformerOptions, place: TransformerPlacement): ValueRef {
  const { g } = ctx;
  const { channels, heads } = options;
  const N = place.height * place.width;
  const frames = place.frames;
  const base = { level: place.level, channels, heads, height: place.height, width: place.width, frames };

  // 1. self-attention (attn1), optionally on merged tokens and with keys from the middle frame
  const selfName = child(prefix, 'attn1');
  const mergeSite: AttentionSite = { ...base, name: selfName, kind: 'self', queryTokens: N, keyTokens: N, crossFrame: place.crossFrame };
  const tome = place.hooks.tokenMerge?.(g, mergeSite, x);
  const h = layerNorm(ctx, child(prefix, 'norm1'), x, channels, 1e-5); // [B, N, C]
  const selfAttended = place.fullCrossFrame
    ? fullCrossFrameSelfAttention(ctx, selfName, h, tome, options, place, mergeSite)
    : tome ? mergedSelfAttention(ctx, selfName, h, tome, options, place, mergeSite) : selfAttention(ctx, selfName, h, options, place, mergeSite);
  let out = g.add(x, selfAttended);

  // 2. cross-attention (attn2) on the text context
  const crossName = child(prefix, 'attn2');
  const crossSite: AttentionSite = { ...base, name: crossName, kind: 'cross', queryTokens: N, keyTokens: options.contextTokens, crossFrame: false };
  const hc = layerNorm(ctx, child(prefix, 'norm2'), out, channels, 1e-5);
  const attn = attentionModule(ctx, crossName, hc, context, channels, N, options.contextTokens, {
    heads,
    contextChannels: options.contextChannels,
    ...pathFor(g, place, crossSite),
  }); // [B, N, C]
  out = g.add(out, attn);

  // 3. feed-forward: GEGLU (value half first, exact GELU on the gate), then Linear
  const hf = layerNorm(ctx, child(prefix, 'norm3'), out, channels, 1e-5);
  const inner = channels * 4;
  const projected = linear(ctx, child(prefix, 'ff.net.0.proj'), hf, channels, inner * 2); // [B, N, 2·inner]
  const [value, gate] = g.split(projected, [inner, inner], -1); // [B, N, inner] x2
  const ff = linear(ctx, child(prefix, 'ff.net.2'), g.mul(value, gelu(g, gate)), inner, channels); // [B, N, C]
  return g.add(out, ff); // [B, N, C]
}

/** attn1 without merging: per frame, or with keys/values from the group's middle frame. h [B, N, C] -> [B, N, C] */
function selfAttention(ctx: BlockContext, name: string, h: ValueRef, options: SpatialTransformerOptions, place: TransformerPlacement, site: AttentionSite): ValueRef {
  const { g } = ctx;
  const { channels, heads } = options;
  const N = site.queryTokens;
  const frames = place.frames;
  const keySource = place.crossFrame && frames > 1 ? middleFrame(g, h, frames, N, channels) : h; // [G, N, C] or [B, N, C]
  return attentionModule(ctx, name, h, keySource, channels, N, N, { heads, ...pathFor(g, place, site), frames: place.crossFrame ? frames : 1 }); // [B, N, C]
}

/** The group's middle frame ((F-1) div 2, FateZero's sparse-causal keys): x [G·F, T, C] -> [G, T, C]. */
function middleFrame(g: GraphBuilder, x: ValueRef, frames: number, tokens: number, channels: number): ValueRef {
  return g.gather(g.reshape(x, [-1, frames, tokens, channels]), g.constInt64([Math.floor((frames - 1) / 2)], []), 1);
}

/**
 * attn1 around token merging (tomesd merge_attn), in the layout the merge asks for:
 * - frame scope, all: queries/keys/values on each frame's merged tokens (keys from the middle frame's), unmerged after;
 * - frame scope, kv: full-resolution queries attend to the merged keys/values (of the middle frame where keys come from it);
 * - clip scope, all: the group's frames form one sequence [G, F·N, C]; attention runs within the merged clip;
 * - clip scope, kv: every frame's full-resolution queries attend to the merged clip's keys/values.
 * h [B, N, C] -> [B, N, C]
 */
function mergedSelfAttention(ctx: BlockContext, name: string, h: ValueRef, tome: TokenMerge, options: SpatialTransformerOptions, place: TransformerPlacement, site: AttentionSite): ValueRef {
  const { g } = ctx;
  const { channels, heads } = options;
  const N = site.queryTokens;
  const F = place.frames;
  const M = tome.mergedTokens;
  const kvOnly = tome.target === 'kv';
  if (tome.scope === 'clip') {
    const clip = g.reshape(h, [-1, F * N, channels]); // [G, F·N, C]
    const merged = tome.merge(clip); // [G, M, C]
    if (kvOnly) {
      const kvSite: AttentionSite = { ...site, queryTokens: N, keyTokens: M, crossFrame: true };
      return attentionModule(ctx, name, h, merged, channels, N, M, { heads, ...pathFor(g, place, kvSite), frames: F }); // [B, N, C]
    }
    const clipSite: AttentionSite = { ...site, frames: 1, queryTokens: M, keyTokens: M, crossFrame: false };
    const attn = attentionModule(ctx, name, merged, merged, channels, M, M, { heads, ...pathFor(g, place, clipSite) }); // [G, M, C]
    return g.reshape(tome.unmerge(attn), [-1, N, channels]); // [B, N, C]
  }
  const merged = tome.merge(h); // [B, M, C]
  const shared = place.crossFrame && F > 1;
  const keySource = shared ? middleFrame(g, merged, F, M, channels) : merged; // [G, M, C] or [B, M, C]
  if (kvOnly) {
    const kvSite: AttentionSite = { ...site, queryTokens: N, keyTokens: M };
    return attentionModule(ctx, name, h, keySource, channels, N, M, { heads, ...pathFor(g, place, kvSite), frames: shared ? F : 1 }); // [B, N, C]
  }
  const mergedSite: AttentionSite = { ...site, queryTokens: M, keyTokens: M };
  const attn = attentionModule(ctx, name, merged, keySource, channels, M, M, { heads, ...pathFor(g, place, mergedSite), frames: shared ? F : 1 }); // [B, M, C]
  return tome.unmerge(attn); // [B, N, C]
}

/**
 * attn1 of ControlVideo's fully cross-frame attention: every frame's tokens attend to the whole group's. Clip-scope
 * merging already attends within the merged clip (all frames), so it is used as is; frame-scope merging merges each
 * frame, attends across the group's merged tokens and unmerges. h [B, N, C] -> [B, N, C]
 */
function fullCrossFrameSelfAttention(ctx: BlockContext, name: string, h: ValueRef, tome: TokenMerge | undefined, options: SpatialTransformerOptions, place: TransformerPlacement, site: AttentionSite): ValueRef {
  const { g } = ctx;
  const { channels, heads } = options;
  const F = place.frames;
  if (place.keyFrames !== undefined && place.keyFrames < F) {
    if (tome) throw new Error(`${name}: token merging does not support key-frame attention (the hierarchical sampler's in-between frames).`);
    return keyFrameAttention(ctx, name, h, channels, site.queryTokens, F, place.keyFrames, heads, pathFor(g, place, { ...site, keyTokens: place.keyFrames * site.queryTokens }));
  }
  if (!tome) return fullCrossFrameAttention(ctx, name, h, channels, site.queryTokens, F, heads, pathFor(g, place, { ...site, keyTokens: F * site.queryTokens }));
  if (tome.scope === 'clip') return mergedSelfAttention(ctx, name, h, tome, options, place, site);
  if (tome.target === 'kv') throw new Error(`${name}: keys/values-only merging at frame scope does not support fully cross-frame attention; use tome.scope 'clip'.`);
  const M = tome.mergedTokens;
  const attn = fullCrossFrameAttention(ctx, name, tome.merge(h), channels, M, F, heads, pathFor(g, place, { ...site, queryTokens: M, keyTokens: F * M }));
  return tome.unmerge(attn); // [B, N, C]
}

/**
 * Self-attention over all frames of a group at once: h [G·F, N', C] is viewed as [G, F·N', C], attends to
 * itself, and is viewed back. Probability hooks are per-frame, so they cannot see this layer.
 */
function fullCrossFrameAttention(ctx: BlockContext, name: string, h: ValueRef, channels: number, tokens: number, frames: number, heads: number, path: { path: AttentionPath; onProbabilities?: (p: ValueRef) => ValueRef }): ValueRef {
  if (path.onProbabilities) throw new Error(`${name}: attention probability hooks do not support fully cross-frame attention.`);
  const { g } = ctx;
  const sequence = g.reshape(h, [-1, frames * tokens, channels]); // [G, F·N', C]
  const attended = attentionModule(ctx, name, sequence, sequence, channels, frames * tokens, frames * tokens, { heads, path: path.path }); // [G, F·N', C]
  return g.reshape(attended, [-1, tokens, channels]); // [G·F, N', C]
}

/**
 * Every frame's queries attend to the tokens of the group's first `keyFrames` frames: h [G·F, N, C] with keys/values
 * [G, keyFrames·N, C] shared by the group's F frames. -> [G·F, N, C]
 */
function keyFrameAttention(ctx: BlockContext, name: string, h: ValueRef, channels: number, tokens: number, frames: number, keyFrames: number, heads: number, path: { path: AttentionPath; onProbabilities?: (p: ValueRef) => ValueRef }): ValueRef {
  if (path.onProbabilities) throw new Error(`${name}: attention probability hooks do not support key-frame attention.`);
  const { g } = ctx;
  const grouped = g.reshape(h, [-1, frames, tokens, channels]); // [G, F, N, C]
  const keys = g.reshape(g.slice(grouped, [0], [keyFrames], [1]), [-1, keyFrames * tokens, channels]); // [G, keyFrames·N, C]
  return attentionModule(ctx, name, h, keys, channels, tokens, keyFrames * tokens, { heads, path: path.path, frames }); // [G·F, N, C]
}

/** Picks the explicit path (with the probability hook bound) where a hook asks for probabilities. */
function pathFor(g: GraphBuilder, place: TransformerPlacement, site: AttentionSite): { path: AttentionPath; onProbabilities?: (p: ValueRef) => ValueRef } {
  const hooks = place.hooks;
  if (!hooks.wantsProbabilities?.(site)) return { path: place.attention };
  const on = hooks.onProbabilities?.bind(hooks);
  return on ? { path: 'explicit', onProbabilities: (p) => on(g, site, p) } : { path: 'explicit' };
}
