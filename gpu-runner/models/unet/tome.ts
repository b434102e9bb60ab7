/**
 * Token merging (ToMe for SD, tomesd `bipartite_soft_matching_random2d`) built into the graph, plus its wiring as
 * UNet attention hooks. Reference: reference-algorithms.md §1; method.md §6 (object-centric scores, paired plans).
 *
 * Per frame (batch item): one destination per sy x sx cell, the rest are sources; each source finds its most
 * cosine-similar destination (metric = block input before norm1); the r best-scoring sources merge into their
 * destinations by mean (the destination included); unmerge copies each destination's output back.
 * Clip scope pools the F frames of a group into one sequence of F·h·w tokens with st x sy x sx cells, so tokens
 * merge across frames as well as within them (OCD's "3-D" merging).
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
 * Destination tokens from per-cell offsets, and the ordered split [dst ascending..., src ascending...] of all
 * frames·h·w tokens (token = (frame·h + row)·w + col). A cell spans st frames x sy rows x sx columns; offset k in
 * 0..st·sy·sx-1 picks frame k div (sy·sx), row (k mod sy·sx) div sx, column k mod sx within it. With one frame
 * (st = 1) this is tomesd's 2-D partition. Frames, rows or columns left over by the cells stay sources.
 * offsets [B', cells] int64 -> { dst [B', cells], src [B', T - cells] }
 */
export function partitionFromOffsets(g: GraphBuilder, offsets: ValueRef, h: number, w: number, sx: number, sy: number, frames = 1, st = 1): { dst: ValueRef; src: ValueRef } {
  const cells = clipCells(frames, h, w, st, sy, sx);
  const n = frames * h * w;
  const base: number[] = [];
  for (let k = 0; k < Math.floor(frames / st); k++) {
    for (let i = 0; i < Math.floor(h / sy); i++) for (let j = 0; j < Math.floor(w / sx); j++) base.push((k * st * h + i * sy) * w + j * sx);
  }
  const plane = g.constInt64([sy * sx], []);
  const frameOffset = g.mul(g.div(offsets, plane), g.constInt64([h * w], [])); // [B', cells]
  const within = g.op1('Mod', [offsets, plane]);
  const rowOffset = g.mul(g.div(within, g.constInt64([sx], [])), g.constInt64([w], [])); // [B', cells]
  const colOffset = g.op1('Mod', [within, g.constInt64([sx], [])]);
  const dstTok = g.add(g.add(g.add(g.constInt64(base, [1, cells]), frameOffset), rowOffset), colOffset); // [B', cells]
  // Sort key: dst tokens first, each group by ascending token; the key is unique so ties never arise.
  const zeros = g.expand(g.constFloat(new Float32Array(n), [1, n]), batchShape(g, dstTok, [n])); // [B', T]
  const marks = g.expand(g.constFloat(new Float32Array(cells).fill(2 * n), [1, cells]), batchShape(g, dstTok, [cells])); // [B', cells]
  const flags = g.scatterElements(zeros, dstTok, marks, 1); // [B', T]: 2T at destinations, 0 elsewhere
  const descending = Float32Array.from({ length: n }, (_, t) => n - t);
  const key = g.add(flags, g.constFloat(descending, [1, n])); // [B', T]
  const [, order] = g.topK(key, n, 1, true); // [B', T]
  const [dst, src] = g.split(order, [cells, n - cells], 1);
  return { dst, src };
}

/** Destination cells of a frames x h x w token block with st x sy x sx cells (one destination each). */
export function clipCells(frames: number, h: number, w: number, st: number, sy: number, sx: number): number {
  return Math.floor(frames / st) * Math.floor(h / sy) * Math.floor(w / sx);
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
   * Fraction of the tokens removed (tomesd `ratio`); 0 turns merging off (the graph is unchanged).
   * A list gives one ratio per level, highest resolution first (levels past its end do not merge; maxDownsample
   * is then ignored). Recommended: 0.5 at level 0 (tomesd's default). Sources are at most 1 - 1/(sy·sx) of the
   * tokens at frame scope (1 - 1/(st·sy·sx) at clip scope): a higher ratio merges every source and no more.
   */
  readonly ratio: number | readonly number[];
  /** With a single ratio: merge in levels whose downsample factor 2^level is at most this. @default 1 (highest resolution only) */
  readonly maxDownsample?: number;
  /** Cell width/height holding one destination. @default 2 */
  readonly sx?: number;
  readonly sy?: number;
  /**
   * 'frame': each frame merges within itself. 'clip': where self-attention spans frames (keys from the middle
   * frame), the group's frames are pooled and merged as one sequence and attention runs within the merged clip
   * (method.md §6 "temporal" merging); layers with per-frame attention keep frame scope. @default 'frame'
   */
  readonly scope?: 'frame' | 'clip';
  /** Frames per destination cell at clip scope (st of an st x sy x sx cell). @default 2 */
  readonly st?: number;
  /** 'all': queries, keys and values merged, output unmerged (tomesd). 'kv': keys/values only. @default 'all' */
  readonly target?: 'all' | 'kv';
  /**
   * 'top-left': tomesd use_rand=False (offset 0 in every cell).
   * 'input': graph input `<site>.tome.dst_offsets` int64 [1 or B, cells] with offsets 0..sx·sy-1 (random or
   * per-frame patterns drawn by the caller); at clip scope [1, cells] with offsets 0..st·sy·sx-1. @default 'top-left'
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

/** Clip scope applies where self-attention spans frames; per-frame attention keeps frame scope. */
export function tomeScopeAt(options: ToMeOptions, site: AttentionSite): 'frame' | 'clip' {
  return options.scope === 'clip' && site.crossFrame && site.frames > 1 ? 'clip' : 'frame';
}

/**
 * AttentionHooks that merge tokens around attn1 as tomesd does (merge_attn only), per frame or over the clip.
 * @example
 * buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5 }) });
 * buildUNetGraph(config, weights, { frames: 8, hooks: tomeHooks({ ratio: [0, 0.9], scope: 'clip', st: 4 }) });
 */
export function tomeHooks(options: ToMeOptions): AttentionHooks {
  const ratios = typeof options.ratio === 'number' ? [options.ratio] : options.ratio;
  if (!ratios.every((r) => r >= 0 && r < 1)) {
    throw new Error(`ToMe ratio = ${JSON.stringify(options.ratio)}: each ratio must be in [0, 1); tomesd recommends 0.5 at most.`);
  }
  const sx = options.sx ?? 2;
  const sy = options.sy ?? 2;
  const st = options.st ?? 2;
  if (!Number.isInteger(st) || st < 1) throw new Error(`ToMe st = ${st}: frames per cell must be a positive integer.`);
  return {
    tokenMerge(g: GraphBuilder, site: AttentionSite, blockInput: ValueRef): TokenMerge | undefined {
      const scope = tomeScopeAt(options, site);
      const frames = scope === 'clip' ? site.frames : 1;
      const tokens = frames * site.height * site.width;
      const r = Math.floor(tokens * tomeRatioAt(options, site));
      const cells = clipCells(frames, site.height, site.width, scope === 'clip' ? st : 1, sy, sx);
      if (Math.min(r, tokens - cells) <= 0) return undefined; // nothing to merge (ratio 0, or cells of one token)
      const names = planTensorNames(site.name);
      // clip scope: the group's frames as one sequence of F·N tokens
      const metric = scope === 'clip' ? g.reshape(blockInput, [-1, tokens, site.channels]) : blockInput; // [B or G, T, C]
      let plan: TokenMergePlan;
      // plan rows: one per frame (frame scope) or per group (clip scope), named apart so shapes never clash
      const [planRows, patternRows] = scope === 'clip' ? ['groups', 1] : ['batch', 'tome_batch'];
      if (options.plans === 'import') {
        const merged = Math.min(r, tokens - cells);
        plan = {
          dstTokens: g.input(names.dstTokens, 'int64', [patternRows, cells]),
          keptTokens: g.input(names.keptTokens, 'int64', [planRows, tokens - cells - merged]),
          mergedTokens: g.input(names.mergedTokens, 'int64', [planRows, merged]),
          dstSlot: g.input(names.dstSlot, 'int64', [planRows, merged]),
          tokens, destinations: cells, merged,
        };
      } else {
        const offsets = options.destinations === 'input'
          ? g.input(dstOffsetsInputName(site.name), 'int64', [patternRows, cells])
          : g.constInt64(new Array(cells).fill(0), [1, cells]);
        const partition = partitionFromOffsets(g, offsets, site.height, site.width, sx, sy, frames, scope === 'clip' ? st : 1);
        const penalty = options.objectCentric ? saliencyPenalty(g, site, tokens, options.objectCentric.beta) : undefined;
        const custom = options.adjustScores;
        const adjustScores = penalty || custom
          ? (scores: ValueRef, srcTokens: ValueRef) => {
            const penalized = penalty ? penalty(scores, srcTokens) : scores;
            return custom ? custom(g, site, penalized, srcTokens) : penalized;
          }
          : undefined;
        plan = bipartiteSoftMatching(g, metric, site.channels, partition, tokens, cells, { r, adjustScores });
        if (options.plans === 'export') {
          g.output(plan.dstTokens, names.dstTokens, 'int64');
          g.output(plan.keptTokens, names.keptTokens, 'int64');
          g.output(plan.mergedTokens, names.mergedTokens, 'int64');
          g.output(plan.dstSlot, names.dstSlot, 'int64');
        }
      }
      return {
        mergedTokens: tokens - plan.merged,
        scope,
        target: options.target ?? 'all',
        merge: (t) => mergeWithPlan(g, plan, t, site.channels),
        unmerge: (t) => unmergeWithPlan(g, plan, t, site.channels),
      };
    },
  };
}

/**
 * scores [B, Nsrc] - beta · saliency[src] with saliency from the level's input [1 or B, h·w] (frame rows; at clip
 * scope a group's F rows are read as one row of F·h·w, matching the clip's token numbering).
 */
function saliencyPenalty(g: GraphBuilder, site: AttentionSite, tokens: number, beta: number): (scores: ValueRef, srcTokens: ValueRef) => ValueRef {
  const name = saliencyInputName(site.level);
  const saliency = g.hasInput(name) ? { name } : g.input(name, 'float32', ['tome_batch', site.height * site.width]);
  return (scores, srcTokens) => {
    const rows = tokens === site.height * site.width ? saliency : g.reshape(saliency, [-1, tokens]); // [1 or B, T]
    const full = g.expand(rows, g.concat([g.slice(g.shape(srcTokens), [0], [1], [0]), g.constInt64([tokens])], 0)); // [B, T]
    const picked = g.gatherElements(full, srcTokens, 1); // [B, Nsrc]
    return g.sub(scores, g.mul(picked, g.scalar(beta)));
  };
}
