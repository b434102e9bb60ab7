/**
 * How a merged layer's recorded attention maps line up with frame tokens: the plan's row of every token (the
 * host-side view of the graph's unmerge), per frame or over the clip, and the per-token reads that blend masks
 * and foreground crops need.
 */
import { boxTokens, type Box, restrictMapVia } from '../ocs.ts';
import type { TomeSite } from './hooks.ts';

/** One site's plan for all frames of one call (int64 data as numbers). */
export interface FramePlan {
  /** [B', cells] */
  dstTokens: { data: Int32Array; rows: number };
  kept: { data: Int32Array; rows: number };
  merged: { data: Int32Array; rows: number };
  dstSlot: { data: Int32Array; rows: number };
}

/**
 * How a merged layer's stored attention map [mapFrames, heads, Q, K] relates to frame tokens (for blend masks
 * and foreground crops, which address maps per frame token).
 */
export interface MapLayout {
  /** batch entries of the map: frames, or 1 for a clip-merged layer (the merged clip is one sequence) */
  readonly mapFrames: number;
  /** query rows per map entry */
  readonly queries: number;
  /** the map entry holding frame f's query rows */
  batchOf(frame: number): number;
  /** the map row each of frame f's tokens reads, or null when query rows are unmerged (row = token) */
  rowsOf(frame: number): Int32Array | null;
  /** the key column each token of frame f's key frame (the middle frame where keys come from it) reads, or null */
  colsOf(frame: number): Int32Array | null;
}

/** The stored-map layout of a merged site given its plan (see MapLayout). */
export function mapLayoutOf(site: TomeSite, plan: FramePlan): MapLayout {
  const n = site.height * site.width;
  const F = site.frames;
  const middle = Math.floor((F - 1) / 2);
  const kvOnly = site.target === 'kv';
  if (site.scope === 'clip') {
    const clipRows = unmergeRows(plan, 0, F * n); // merged row of every clip token
    const ofFrame = (f: number) => clipRows.subarray(f * n, (f + 1) * n);
    // the unmerged layer these maps stand for takes keys from the middle frame
    return kvOnly
      ? { mapFrames: F, queries: n, batchOf: (f) => f, rowsOf: () => null, colsOf: () => ofFrame(middle) }
      : { mapFrames: 1, queries: site.mergedTokens, batchOf: () => 0, rowsOf: ofFrame, colsOf: () => ofFrame(middle) };
  }
  const keyFrame = (f: number) => (site.crossFrame ? middle : f);
  return {
    mapFrames: F,
    queries: kvOnly ? n : site.mergedTokens,
    batchOf: (f) => f,
    rowsOf: (f) => (kvOnly ? null : unmergeRows(plan, f, n)),
    colsOf: (f) => unmergeRows(plan, keyFrame(f), n),
  };
}

/**
 * For frame f of a plan, the merged row each of the N tokens reads on unmerge (kept i -> i, destination j ->
 * kept + j, merged source -> kept + its slot): the host-side view of the graph's unmerge.
 */
export function unmergeRows(plan: FramePlan, frame: number, tokens: number): Int32Array {
  const keptPer = plan.kept.data.length / plan.kept.rows;
  const mergedPer = plan.merged.data.length / plan.merged.rows;
  const cells = plan.dstTokens.data.length / plan.dstTokens.rows;
  const dstRow = plan.dstTokens.rows === 1 ? 0 : frame;
  const rowOf = new Int32Array(tokens);
  for (let i = 0; i < keptPer; i++) rowOf[plan.kept.data[frame * keptPer + i]] = i;
  for (let j = 0; j < cells; j++) rowOf[plan.dstTokens.data[dstRow * cells + j]] = keptPer + j;
  for (let k = 0; k < mergedPer; k++) rowOf[plan.merged.data[frame * mergedPer + k]] = keptPer + plan.dstSlot.data[frame * mergedPer + k];
  return rowOf;
}

/** Mean of per-token values [F, n] over each map row: [mapFrames, queries] (unmerged rows take their token's). */
export function valuesPerMapRow(values: Float32Array, frames: number, tokens: number, layout: MapLayout): Float32Array {
  const sum = new Float32Array(layout.mapFrames * layout.queries);
  const count = new Float32Array(sum.length);
  for (let f = 0; f < frames; f++) {
    const base = layout.batchOf(f) * layout.queries;
    const rows = layout.rowsOf(f);
    for (let n = 0; n < tokens; n++) {
      const at = base + (rows ? rows[n] : n);
      sum[at] += values[f * tokens + n];
      count[at] += 1;
    }
  }
  return sum.map((v, i) => (count[i] > 0 ? v / count[i] : 0));
}

/**
 * A merged layer's map [mapFrames, heads, Q, K] restricted to a crop's tokens as the unmerged crop graph reads it:
 * [F, heads, n, n] with each frame's box tokens as rows and its key frame's box tokens as columns, renormalized.
 */
export function restrictMergedMap(map: Float32Array, frames: number, heads: number, keys: number, box: Box, width: number, layout: MapLayout): Float32Array {
  const n = boxTokens(box, width).length;
  const per = heads * layout.queries * keys;
  const out = new Float32Array(frames * heads * n * n);
  for (let f = 0; f < frames; f++) {
    const entry = map.subarray(layout.batchOf(f) * per, (layout.batchOf(f) + 1) * per);
    out.set(restrictMapVia(entry, 1, heads, layout.queries, keys, box, width, () => layout.rowsOf(f), () => layout.colsOf(f)), f * heads * n * n);
  }
  return out;
}
