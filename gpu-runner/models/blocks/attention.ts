import { int, float, type GraphBuilder, type ValueRef } from '../../graph/builder.ts';
import { type BlockContext, child } from './context.ts';
import { linear } from './layers.ts';

/**
 * How scaled dot-product attention is computed.
 * - 'explicit': MatMul + Softmax + MatMul; the probabilities exist as a tensor, so hooks can read or replace them.
 * - 'fused': com.microsoft MultiHeadAttention (one kernel, no probability tensor); faster on ORT CPU.
 */
export type AttentionPath = 'explicit' | 'fused';

export interface AttentionCoreOptions {
  readonly heads: number;
  readonly path: AttentionPath;
  /**
   * Queries come in groups of `frames` consecutive batch items that share one key/value batch item
   * (pseudo-3D cross-frame attention: q [G·F, Q, C], k/v [G, K, C]). @default 1 (keys per batch item)
   */
  readonly frames?: number;
  /** Additive mask broadcast onto the scores [.., Q, K] (e.g. CLIP's causal mask); explicit path only. */
  readonly mask?: ValueRef;
  /** Sees probabilities [B, heads, Q, K] and returns the tensor to use instead (explicit path only). */
  readonly onProbabilities?: (probs: ValueRef) => ValueRef;
  /**
   * Queries per chunk (see `chunkedAttention`). @default the builder's `attentionQueryChunk` (unset: one chunk).
   * Ignored where a mask or a probability hook needs the whole score matrix.
   */
  readonly queryChunk?: number;
}

/**
 * softmax(q·kᵀ/√d)·v per head. q [B, Q, C]; k, v [B/frames, K, C]; returns [B, Q, C] (C = heads·d).
 * `queryTokens`/`keyTokens` are static per-item lengths (Q, K).
 */
export function attentionCore(g: GraphBuilder, q: ValueRef, k: ValueRef, v: ValueRef, channels: number, queryTokens: number, keyTokens: number, options: AttentionCoreOptions): ValueRef {
  const chunk = options.queryChunk ?? g.attentionQueryChunk;
  if (chunk !== undefined && queryTokens > chunk && !options.mask && !options.onProbabilities) {
    return chunkedAttention(g, q, k, v, channels, queryTokens, keyTokens, { ...options, queryChunk: chunk });
  }
  const heads = options.heads;
  const frames = options.frames ?? 1;
  const headDim = channels / heads;
  if (!Number.isInteger(headDim)) {
    throw new Error(`Attention: ${channels} channels do not split into ${heads} heads; check attention_head_dim / num_attention_heads in config.json.`);
  }
  const scale = 1 / Math.sqrt(headDim);
  if (options.path === 'fused') {
    if (options.mask || options.onProbabilities) {
      throw new Error('Attention: the fused path has no probability tensor; use path "explicit" for masks or probability hooks.');
    }
    // Frames of one group share keys: stack their queries into one sequence of F·Q rows.
    const qGrouped = frames > 1 ? g.reshape(q, [-1, frames * queryTokens, channels]) : q; // [G, F·Q, C]
    const out = g.microsoft('MultiHeadAttention', [qGrouped, k, v], { num_heads: int(heads), scale: float(scale) }); // [G, F·Q, C]
    return frames > 1 ? g.reshape(out, [-1, queryTokens, channels]) : out; // [B, Q, C]
  }
  // explicit: split heads, keeping a frames axis when frames share keys
  const qs = g.mul(q, g.scalar(scale)); // [B, Q, C]
  let qh: ValueRef, kh: ValueRef, vh: ValueRef;
  if (frames > 1) {
    qh = g.transpose(g.reshape(qs, [-1, frames, queryTokens, heads, headDim]), [0, 1, 3, 2, 4]); // [G, F, H, Q, d]
    kh = g.transpose(g.reshape(k, [-1, 1, keyTokens, heads, headDim]), [0, 1, 3, 4, 2]); // [G, 1, H, d, K]
    vh = g.transpose(g.reshape(v, [-1, 1, keyTokens, heads, headDim]), [0, 1, 3, 2, 4]); // [G, 1, H, K, d]
  } else {
    qh = g.transpose(g.reshape(qs, [0, queryTokens, heads, headDim]), [0, 2, 1, 3]); // [B, H, Q, d]
    kh = g.transpose(g.reshape(k, [0, keyTokens, heads, headDim]), [0, 2, 3, 1]); // [B, H, d, K]
    vh = g.transpose(g.reshape(v, [0, keyTokens, heads, headDim]), [0, 2, 1, 3]); // [B, H, K, d]
  }
  let scores = g.matMul(qh, kh); // [.., H, Q, K]
  if (options.mask) scores = g.add(scores, options.mask);
  let probs = g.softmax(scores, -1); // [.., H, Q, K]
  if (options.onProbabilities) {
    const flat = frames > 1 ? g.reshape(probs, [-1, heads, queryTokens, keyTokens]) : probs; // [B, H, Q, K]
    const replaced = options.onProbabilities(flat);
    probs = frames > 1 ? g.reshape(replaced, [-1, frames, heads, queryTokens, keyTokens]) : replaced;
  }
  const out = g.matMul(probs, vh); // [.., H, Q, d]
  const perm = frames > 1 ? [0, 1, 3, 2, 4] : [0, 2, 1, 3];
  return g.reshape(g.transpose(out, perm), [-1, queryTokens, channels]); // [B, Q, C]
}

/**
 * Exact attention in bounded memory: the queries are cut into chunks of `queryChunk` rows and each chunk attends to
 * all keys on its own (softmax runs over keys, so chunks along queries are independent and the result is exact).
 * The largest score tensor is [B, heads, queryChunk, K] (with frames sharing keys: [G, frames, heads, chunk, K])
 * instead of [.., Q, K]: at 512 px (4096 tokens a frame) and 16 frames a chunk of 1024 rows needs 1/4 of it,
 * and onnxruntime frees each chunk's scores before the next. Same inputs and output as `attentionCore`.
 */
export function chunkedAttention(g: GraphBuilder, q: ValueRef, k: ValueRef, v: ValueRef, channels: number, queryTokens: number, keyTokens: number, options: AttentionCoreOptions & { readonly queryChunk: number }): ValueRef {
  const chunk = options.queryChunk;
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`Attention: queryChunk must be a positive integer; got ${chunk}.`);
  if (options.mask || options.onProbabilities) throw new Error('Attention: a mask or a probability hook needs the whole score matrix; it cannot run in query chunks.');
  const parts: ValueRef[] = [];
  for (let start = 0; start < queryTokens; start += chunk) {
    const rows = Math.min(chunk, queryTokens - start);
    const qc = g.slice(q, [start], [start + rows], [1]); // [B, rows, C]
    parts.push(attentionCore(g, qc, k, v, channels, rows, keyTokens, { ...options, queryChunk: rows })); // [B, rows, C]
  }
  return parts.length === 1 ? parts[0] : g.concat(parts, 1); // [B, Q, C]
}

export interface AttentionModuleOptions extends AttentionCoreOptions {
  /** Channels of the key/value input (context). @default channels */
  readonly contextChannels?: number;
  /** Whether to_q/to_k/to_v carry biases (VAE yes, UNet no). @default false */
  readonly qkvBias?: boolean;
}

/**
 * diffusers `Attention` (to_q, to_k, to_v, to_out.0): x [B, Q, C], context [B/frames, K, Cctx] -> [B, Q, C].
 */
export function attentionModule(ctx: BlockContext, prefix: string, x: ValueRef, context: ValueRef, channels: number, queryTokens: number, keyTokens: number, options: AttentionModuleOptions): ValueRef {
  const contextChannels = options.contextChannels ?? channels;
  const bias = options.qkvBias ?? false;
  const q = linear(ctx, child(prefix, 'to_q'), x, channels, channels, { bias }); // [B, Q, C]
  const k = linear(ctx, child(prefix, 'to_k'), context, contextChannels, channels, { bias }); // [B/F, K, C]
  const v = linear(ctx, child(prefix, 'to_v'), context, contextChannels, channels, { bias }); // [B/F, K, C]
  const attended = attentionCore(ctx.g, q, k, v, channels, queryTokens, keyTokens, options); // [B, Q, C]
  return linear(ctx, child(prefix, 'to_out.0'), attended, channels, channels); // [B, Q, C]
}
