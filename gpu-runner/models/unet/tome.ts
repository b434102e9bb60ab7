/**
 * Token merging (ToMe for SD, tomesd `bipartite_soft_matching_random2d`) built into the graph, plus its wiring as
 * UNet attention hooks. Reference: reference-algorithms.md §1; method.md §6 (object-centric scores, paired plans).
 *
 * Per frame (batch item): one destination per sy x sx cell, the rest are sources; each source finds its most
 * cosine-similar destination (metric = block input before norm1); the r best-scoring sources merge into their
 * destinations by mean (the destination included); unmerge copies each destination's output back.
 * Merged layout: [kept sources (by descending score)..., destinations (ascending token)...].
 */
import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';
import type { AttentionHooks, AttentionSite, TokenMerge } from './hooks.ts';

/** A merge plan as int64 index tensors (token positions n = row·w + col within a frame). */
export interface TokenMergePlan {
  /** [B', Ndst] destination tokens, ascending (B' is 1 when all frames share the pattern, else B). */
  readonly dstTokens: ValueRef;
  /** [B, Nsrc - r] kept source tokens. */
  readonly keptTokens: ValueRef;
  /** [B, r] merged source tokens. */
  readonly mergedTokens: ValueRef;
  /** [B, r] destination slot (0..Ndst-1) of each merged source. */
  readonly dstSlot: ValueRef;
  /** Static counts per frame. */
  readonly tokens: number;
  readonly destinations: number;
  readonly merged: number;
}

/** Names of a site's plan tensors when exported as outputs or imported as inputs. */
export function planTensorNames(site: string): { dstTokens: string; keptTokens: string; mergedTokens: string; dstSlot: string } {
  return {
    dstTokens: `${site}.tome.dst_tokens`,
    keptTokens: `${site}.tome.kept_tokens`,
    mergedTokens: `${site}.tome.merged_tokens`,
    dstSlot: `${site}.tome.dst_slot`,
  };
}

/** Graph input carrying a site's destination offsets (ToMeOptions.destinations 'input'). */
export function dstOffsetsInputName(site: string): string {
  return `${site}.tome.dst_offsets`;
}

/** Graph input carrying the object-centric saliency of one level (shared by that level's sites). */
export function saliencyInputName(level: number): string {
  return `tome.saliency.l${level}`;
}

/** [dim0 of x, ...rest] as an int64 shape tensor. */
function batchShape(g: GraphBuilder, x: ValueRef, rest: number[]): ValueRef {
  return g.concat([g.slice(g.shape(x), [0], [1], [0]), g.constInt64(rest)], 0);
}

/** x [B, N, C] rows picked by idx [B' (1 or B), M] -> [B, M, C]. */
export function gatherTokens(g: GraphBuilder, x: ValueRef, idx: ValueRef, count: number, channels: number): ValueRef {
  const expanded = g.expand(g.unsqueeze(idx, [2]), batchShape(g, x, [count, channels])); // [B, M, C]
  return g.gatherElements(x, expanded, 1); // [B, M, C]
}

/**
 * Destination tokens from per-cell offsets k in 0..sx·sy-1 (cell (i, j) -> token (i·sy + k div sx)·w + j·sx + k mod sx),
 * and the ordered split [dst ascending..., src ascending...] of all h·w tokens.
 * offsets [B', cells] int64 -> { dst [B', cells], src [B', N - cells] }
 */
export function partitionFromOffsets(g: GraphBuilder, offsets: ValueRef, h: number, w: number, sx: number, sy: number): { dst: ValueRef; src: ValueRef } {
  const hsy = Math.floor(h / sy);
  const wsx = Math.floor(w / sx);
  const cells = hsy * wsx;
  const n = h * w;
  const base: number[] = [];
  for (let i = 0; i < hsy; i++) for (let j = 0; j < wsx; j++) base.push(i * sy * w + j * sx);
  const rowOffset = g.mul(g.div(offsets, g.constInt64([sx], [])), g.constInt64([w], [])); // [B', cells]
  const colOffset = g.op1('Mod', [offsets, g.constInt64([sx], [])]);
  const dstTok = g.add(g.add(g.constInt64(base, [1, cells]), rowOffset), colOffset); // [B', cells]
  // Sort key: dst tokens first, each group by ascending token; the key is unique so ties never arise.
  const zeros = g.expand(g.constFloat(new Float32Array(n), [1, n]), batchShape(g, dstTok, [n])); // [B', N]
  const marks = g.expand(g.constFloat(new Float32Array(cells).fill(2 * n), [1, cells]), batchShape(g, dstTok, [cells])); // [B', cells]
  const flags = g.scatterElements(zeros, dstTok, marks, 1); // [B', N]: 2N at destinations, 0 elsewhere
  const descending = Float32Array.from({ length: n }, (_, t) => n - t);
  const key = g.add(flags, g.constFloat(descending, [1, n])); // [B', N]
  const [, order] = g.topK(key, n, 1, true); // [B', N]
  const [dst, src] = g.split(order, [cells, n - cells], 1);
  return { dst, src };
}

export interface MatchOptions {
  /** Tokens to merge per frame (clamped to the number of sources). */
  readonly r: number;
  /** Adjusts best-match scores [B, Nsrc] given the source tokens [B, Nsrc] (object-centric ToMe). */
  readonly adjustScores?: (scores: ValueRef, srcTokens: ValueRef) => ValueRef;
}

/**
 * Bipartite soft matching: metric [B, N, C]; partition from `partitionFromOffsets` -> plan.
 */
export function bipartiteSoftMatching(g: GraphBuilder, metric: ValueRef, channels: number, partition: { dst: ValueRef; src: ValueRef }, tokens: number, destinations: number, options: MatchOptions): TokenMergePlan {
  const sources = tokens - destinations;
  const r = Math.max(0, Math.min(options.r, sources));
  const norm = g.sqrt(g.reduceSum(g.mul(metric, metric), [-1])); // [B, N, 1]
  const unit = g.div(metric, norm); // [B, N, C]
  const a = gatherTokens(g, unit, partition.src, sources, channels); // [B, Nsrc, C]
  const b = gatherTokens(g, unit, partition.dst, destinations, channels); // [B, Ndst, C]
  const scores = g.matMul(a, g.transpose(b, [0, 2, 1])); // [B, Nsrc, Ndst]
  let best = g.reduceMax(scores, [-1], false); // [B, Nsrc]
  const bestDst = g.argMax(scores, -1, false); // [B, Nsrc]
  const srcTokens = g.expand(partition.src, batchShape(g, metric, [sources])); // [B, Nsrc]
  if (options.adjustScores) best = options.adjustScores(best, srcTokens);
  const [, edgeOrder] = g.topK(best, sources, 1, true); // [B, Nsrc] positions into src, best first
  const [mergedPos, keptPos] = g.split(edgeOrder, [r, sources - r], 1); // [B, r], [B, Nsrc - r]
  return {
    dstTokens: partition.dst,
    keptTokens: g.gatherElements(srcTokens, keptPos, 1), // [B, Nsrc - r]
    mergedTokens: g.gatherElements(srcTokens, mergedPos, 1), // [B, r]
    dstSlot: g.gatherElements(bestDst, mergedPos, 1), // [B, r]
    tokens,
    destinations,
    merged: r,
  };
}

/** merge: x [B, N, C] -> [B, N - r, C] = [kept..., mean(dst ∪ its merged sources)...]. */
export function mergeWithPlan(g: GraphBuilder, plan: TokenMergePlan, x: ValueRef, channels: number): ValueRef {
  const kept = plan.tokens - plan.destinations - plan.merged;
  const keptRows = gatherTokens(g, x, plan.keptTokens, kept, channels); // [B, kept, C]
  const dstRows = gatherTokens(g, x, plan.dstTokens, plan.destinations, channels); // [B, Ndst, C]
  if (plan.merged === 0) return g.concat([keptRows, dstRows], 1);
  const srcRows = gatherTokens(g, x, plan.mergedTokens, plan.merged, channels); // [B, r, C]
  const slots = g.expand(g.unsqueeze(plan.dstSlot, [2]), batchShape(g, x, [plan.merged, channels])); // [B, r, C]
  const sums = g.scatterElements(dstRows, slots, srcRows, 1, 'add'); // [B, Ndst, C]
  const zeros = g.expand(g.constFloat(new Float32Array(plan.destinations), [1, plan.destinations]), batchShape(g, x, [plan.destinations])); // [B, Ndst]
  const ones = g.expand(g.constFloat(new Float32Array(plan.merged).fill(1), [1, plan.merged]), batchShape(g, x, [plan.merged])); // [B, r]
  const counts = g.add(g.scatterElements(zeros, plan.dstSlot, ones, 1, 'add'), g.scalar(1)); // [B, Ndst]
  const means = g.div(sums, g.unsqueeze(counts, [2])); // [B, Ndst, C]
  return g.concat([keptRows, means], 1); // [B, N - r, C]
}

/** unmerge: y [B, N - r, C] -> [B, N, C]; each merged source gets its destination's row. */
export function unmergeWithPlan(g: GraphBuilder, plan: TokenMergePlan, y: ValueRef, channels: number): ValueRef {
  const kept = plan.tokens - plan.destinations - plan.merged;
  // row of y that each token reads: kept -> 0..kept-1, dst j -> kept + j, merged -> kept + slot
  const dstTokens = g.expand(plan.dstTokens, batchShape(g, y, [plan.destinations])); // [B, Ndst]
  const allTokens = g.concat([plan.keptTokens, dstTokens, plan.mergedTokens], 1); // [B, N]
  const keptRowIds = g.expand(g.constInt64(Array.from({ length: kept }, (_, i) => i), [1, kept]), batchShape(g, y, [kept]));
  const dstRowIds = g.expand(g.constInt64(Array.from({ length: plan.destinations }, (_, j) => kept + j), [1, plan.destinations]), batchShape(g, y, [plan.destinations]));
  const mergedRowIds = g.add(plan.dstSlot, g.constInt64([kept], []));
  const rowIds = g.concat([keptRowIds, dstRowIds, mergedRowIds], 1); // [B, N]
  const rowOfToken = g.scatterElements(allTokens, allTokens, rowIds, 1); // [B, N]: every position written once
  return gatherTokens(g, y, rowOfToken, plan.tokens, channels); // [B, N, C]
}

export interface ToMeOptions {
  /**
   * Fraction of each frame's tokens removed (tomesd `ratio`); 0 turns merging off (the graph is unchanged).
   * A list gives one ratio per level, highest resolution first (levels past its end do not merge; maxDownsample
   * is then ignored). Recommended: 0.5 at level 0 (tomesd's default).
   */
  readonly ratio: number | readonly number[];
  /** With a single ratio: merge in levels whose downsample factor 2^level is at most this. @default 1 (highest resolution only) */
  readonly maxDownsample?: number;
  /** Cell width/height holding one destination. @default 2 */
  readonly sx?: number;
  readonly sy?: number;
  /**
   * 'top-left': tomesd use_rand=False (offset 0 in every cell).
   * 'input': graph input `<site>.tome.dst_offsets` int64 [1 or B, cells] with offsets 0..sx·sy-1 (random or
   * per-frame patterns drawn by the caller). @default 'top-left'
   */
  readonly destinations?: 'top-left' | 'input';
  /**
   * Object-centric ToMe: best scores of sources drop by beta·m (m = saliency fed as input `tome.saliency.l<level>`
   * float32 [1 or B, h·w]), so salient sources merge last. @default - none
   */
  readonly objectCentric?: { readonly beta: number };
  /**
   * Custom score adjustment, applied after objectCentric: best-match scores [B, Nsrc] and their source tokens
   * [B, Nsrc] in, adjusted scores out (higher merges first). @default - scores unchanged
   */
  readonly adjustScores?: (g: GraphBuilder, site: AttentionSite, scores: ValueRef, srcTokens: ValueRef) => ValueRef;
  /**
   * 'compute': plans computed in the graph. 'export': also output them (names from planTensorNames).
   * 'import': plans fed as inputs with those names (pairing a run with an earlier one). @default 'compute'
   */
  readonly plans?: 'compute' | 'export' | 'import';
}

/** The merge ratio at a site: 0 outside self-attention and outside the merged levels. */
export function tomeRatioAt(options: ToMeOptions, site: AttentionSite): number {
  if (site.kind !== 'self') return 0;
  if (typeof options.ratio !== 'number') return options.ratio[site.level] ?? 0;
  return 2 ** site.level <= (options.maxDownsample ?? 1) ? options.ratio : 0;
}

/**
 * AttentionHooks that merge tokens around attn1 as tomesd does (merge_attn only).
 * @example
 * buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5 }) });
 */
export function tomeHooks(options: ToMeOptions): AttentionHooks {
  const ratios = typeof options.ratio === 'number' ? [options.ratio] : options.ratio;
  if (!ratios.every((r) => r >= 0 && r < 1)) {
    throw new Error(`ToMe ratio = ${JSON.stringify(options.ratio)}: each ratio must be in [0, 1); tomesd recommends 0.5 at most.`);
  }
  const sx = options.sx ?? 2;
  const sy = options.sy ?? 2;
  return {
    tokenMerge(g: GraphBuilder, site: AttentionSite, blockInput: ValueRef): TokenMerge | undefined {
      const tokens = site.height * site.width;
      const r = Math.floor(tokens * tomeRatioAt(options, site));
      if (r <= 0) return undefined;
      const cells = Math.floor(site.height / sy) * Math.floor(site.width / sx);
      const names = planTensorNames(site.name);
      let plan: TokenMergePlan;
      if (options.plans === 'import') {
        const merged = Math.min(r, tokens - cells);
        plan = {
          dstTokens: g.input(names.dstTokens, 'int64', ['tome_batch', cells]),
          keptTokens: g.input(names.keptTokens, 'int64', ['batch', tokens - cells - merged]),
          mergedTokens: g.input(names.mergedTokens, 'int64', ['batch', merged]),
          dstSlot: g.input(names.dstSlot, 'int64', ['batch', merged]),
          tokens, destinations: cells, merged,
        };
      } else {
        const offsets = options.destinations === 'input'
          ? g.input(dstOffsetsInputName(site.name), 'int64', ['tome_batch', cells])
          : g.constInt64(new Array(cells).fill(0), [1, cells]);
        const partition = partitionFromOffsets(g, offsets, site.height, site.width, sx, sy);
        const penalty = options.objectCentric ? saliencyPenalty(g, site, options.objectCentric.beta) : undefined;
        const custom = options.adjustScores;
        const adjustScores = penalty || custom
          ? (scores: ValueRef, srcTokens: ValueRef) => {
            const penalized = penalty ? penalty(scores, srcTokens) : scores;
            return custom ? custom(g, site, penalized, srcTokens) : penalized;
          }
          : undefined;
        plan = bipartiteSoftMatching(g, blockInput, site.channels, partition, tokens, cells, { r, adjustScores });
        if (options.plans === 'export') {
          g.output(plan.dstTokens, names.dstTokens, 'int64');
          g.output(plan.keptTokens, names.keptTokens, 'int64');
          g.output(plan.mergedTokens, names.mergedTokens, 'int64');
          g.output(plan.dstSlot, names.dstSlot, 'int64');
        }
      }
      return {
        mergedTokens: tokens - plan.merged,
        merge: (t) => mergeWithPlan(g, plan, t, site.channels),
        unmerge: (t) => unmergeWithPlan(g, plan, t, site.channels),
      };
    },
  };
}

/** scores [B, Nsrc] - beta · saliency[src] with saliency from the level's input [1 or B, h·w]. */
function saliencyPenalty(g: GraphBuilder, site: AttentionSite, beta: number): (scores: ValueRef, srcTokens: ValueRef) => ValueRef {
  const name = saliencyInputName(site.level);
  const saliency = g.hasInput(name) ? { name } : g.input(name, 'float32', ['tome_batch', site.height * site.width]);
  return (scores, srcTokens) => {
    const full = g.expand(saliency, g.concat([g.slice(g.shape(srcTokens), [0], [1], [0]), g.constInt64([site.height * site.width])], 0)); // [B, N]
    const picked = g.gatherElements(full, srcTokens, 1); // [B, Nsrc]
    return g.sub(scores, g.mul(picked, g.scalar(beta)));
  };
}

