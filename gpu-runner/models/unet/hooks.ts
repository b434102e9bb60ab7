import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';

/**
 * One attention layer of the UNet, described for hooks. Names follow the diffusers module path.
 * Batch layout: batch = groups * frames (e.g. CFG gives 2 groups of F frames), frames contiguous per group.
 */
export interface AttentionSite {
  /** diffusers module path, e.g. 'up_blocks.1.attentions.0.transformer_blocks.0.attn1'. */
  readonly name: string;
  readonly kind: 'self' | 'cross';
  /** Downsample level: 0 = highest resolution. */
  readonly level: number;
  readonly channels: number;
  readonly heads: number;
  /** Latent grid of this layer. */
  readonly height: number;
  readonly width: number;
  /**
   * Frames per group in this layer's attention batch (F; the batch is groups * F). A clip-merged layer attends
   * within its merged clip as one sequence: its attention batch is the groups and `frames` is 1.
   */
  readonly frames: number;
  /** Query rows per frame: height * width, or fewer after token merging. */
  readonly queryTokens: number;
  /** Keys per query row: the text length for cross, HW (or the merged count) for self. */
  readonly keyTokens: number;
  /** True when this self-attention takes keys/values from the group's middle frame (pseudo-3D). */
  readonly crossFrame: boolean;
}

/** The merge/unmerge pair a token-merging hook returns for one transformer block. */
export interface TokenMerge {
  /** frame scope: [B, N, C] -> [B, N', C]; clip scope: the group's frames as one sequence [G, F·N, C] -> [G, N', C] */
  merge(tokens: ValueRef): ValueRef;
  /** the inverse layout of `merge` (not called when only keys/values are merged) */
  unmerge(tokens: ValueRef): ValueRef;
  /** Tokens left after merging (N'): per frame, or per group at clip scope. */
  readonly mergedTokens: number;
  /**
   * 'frame': each batch item merges within itself. 'clip': the F frames of a group are pooled and merged as one
   * sequence, and attention runs within the merged clip (fully cross-frame on the merged tokens). @default 'frame'
   */
  readonly scope?: 'frame' | 'clip';
  /**
   * 'all': queries, keys and values use the merged tokens and the output is unmerged. 'kv': only keys/values are
   * merged; queries stay at full resolution, so nothing is unmerged. @default 'all'
   */
  readonly target?: 'all' | 'kv';
}

/**
 * Extension points inside UNet attention. The engine implements these to record or replace attention
 * probabilities (FateZero fusion) and to merge tokens (ToMe / object-centric ToMe). Every method is optional;
 * an absent method means "leave the layer as diffusers computes it".
 */
export interface AttentionHooks {
  /** True when this site must materialise probabilities (explicit softmax) so onProbabilities sees them. */
  wantsProbabilities?(site: AttentionSite): boolean;
  /**
   * Receives probabilities [B, heads, Q, K] (B = groups * frames, Q = site.queryTokens, K = site.keyTokens)
   * and returns the tensor to use instead (it may add graph inputs/outputs through `g`).
   */
  onProbabilities?(g: GraphBuilder, site: AttentionSite, probs: ValueRef): ValueRef;
  /**
   * Token merging around self-attention. Gets the transformer block input x [B, N, C] (before norm1) and
   * returns the merge/unmerge pair applied around attn1 (queries, keys and values all use merged tokens),
   * or undefined for no merging.
   */
  tokenMerge?(g: GraphBuilder, site: AttentionSite, blockInput: ValueRef): TokenMerge | undefined;
}

/** Hooks that change nothing: the graph equals diffusers' UNet. */
export const NO_HOOKS: AttentionHooks = Object.freeze({});

/**
 * Combines several hook sets: probabilities are materialised where any set wants them and pass through each
 * set that asked for that site, in order; the first set that merges tokens at a site wins.
 */
export function combineHooks(...sets: AttentionHooks[]): AttentionHooks {
  return {
    wantsProbabilities: (site) => sets.some((s) => s.wantsProbabilities?.(site) ?? false),
    // each set only sees the sites it asked for
    onProbabilities: (g, site, probs) => sets.reduce((p, s) => (s.onProbabilities && s.wantsProbabilities?.(site) ? s.onProbabilities(g, site, p) : p), probs),
    tokenMerge: (g, site, x) => {
      for (const s of sets) {
        const m = s.tokenMerge?.(g, site, x);
        if (m) return m;
      }
      return undefined;
    },
  };
}
