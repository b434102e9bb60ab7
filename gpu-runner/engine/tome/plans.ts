/**
 * Token-merge plans (method.md §6): which tokens are destinations, and which sources merge into which destination.
 *
 * - Destinations: one per sy x sx cell at a seeded random offset, drawn independently per frame (per-frame
 *   resampling) and per (timestep, layer), so inversion at t and editing at t draw the same pattern (pairing).
 * - Matching: tomesd's bipartite soft matching (reference-algorithms.md §1.2), with an optional per-token score
 *   penalty (object-centric ToMe: score_i -= beta * m_i so foreground sources merge last).
 *
 * This file is the host-side reference: it is what the in-graph version must reproduce, and what tests compare
 * with tomesd's outputs. Pure TypeScript over typed arrays.
 */

/** Destination/source split of one frame's h x w token grid. Indices are token positions n = row * w + col. */
export interface TokenPartition {
  /** destination tokens, ascending */
  dst: Int32Array;
  /** source tokens, ascending */
  src: Int32Array;
}

/** A matching for one batch element: all indices point into `partition.src` / `partition.dst`. */
export interface MergePlan {
  partition: TokenPartition;
  /** positions (into src) of the r merged sources, by descending best similarity */
  mergedSources: Int32Array;
  /** positions (into src) of the kept sources, by descending best similarity */
  keptSources: Int32Array;
  /** for each merged source, its destination position (into dst) */
  destinations: Int32Array;
}

/** 32-bit mixing (splitmix32-style finalizer): a stable hash for seeds. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** Deterministic seed from integer/string parts (order matters). */
export function deriveSeed(...parts: (number | string)[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    const text = String(part);
    for (let i = 0; i < text.length; i++) h = mix32(h ^ text.charCodeAt(i));
    h = mix32(h ^ 0x7f4a7c15);
  }
  return h >>> 0;
}

/** A small seeded generator (mulberry32): deterministic across platforms, returns integers in [0, n). */
export function seededIntegers(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return Math.floor(u * n);
  };
}

/**
 * Destination offset (0 .. sx*sy-1) for each cell of each frame: [frames, floor(h/sy) * floor(w/sx)].
 * `seed` = null gives tomesd's `use_rand=False` pattern (offset 0: the top-left token of every cell).
 * Each frame draws from its own stream, so frames get independent patterns (per-frame resampling).
 */
export function destinationOffsets(args: { seed: number | null; frames: number; h: number; w: number; sx: number; sy: number }): Int32Array[] {
  const cells = Math.floor(args.h / args.sy) * Math.floor(args.w / args.sx);
  return Array.from({ length: args.frames }, (_, f) => {
    const offsets = new Int32Array(cells);
    if (args.seed === null) return offsets;
    const next = seededIntegers(deriveSeed(args.seed, 'frame', f));
    for (let c = 0; c < cells; c++) offsets[c] = next(args.sx * args.sy);
    return offsets;
  });
}

/**
 * Clip-scope destination offsets (0 .. st*sy*sx-1), one per st x sy x sx cell of a frames x h x w token block:
 * [floor(frames/st) * floor(h/sy) * floor(w/sx)], cells in (frame block, row, column) order. One draw per
 * (timestep, layer) seed: the pattern is resampled every step and shared by the CFG groups.
 */
export function clipDestinationOffsets(args: { seed: number; frames: number; st: number; h: number; w: number; sx: number; sy: number }): Int32Array {
  const cells = Math.floor(args.frames / args.st) * Math.floor(args.h / args.sy) * Math.floor(args.w / args.sx);
  const next = seededIntegers(deriveSeed(args.seed, 'clip'));
  return Int32Array.from({ length: cells }, () => next(args.st * args.sy * args.sx));
}

/**
 * Splits an h x w grid into destinations (one per complete sy x sx cell, at `offsets[cell]`) and sources
 * (everything else, including rows/columns beyond the last complete cell).
 */
export function partitionTokens(h: number, w: number, sx: number, sy: number, offsets: Int32Array): TokenPartition {
  const hsy = Math.floor(h / sy);
  const wsx = Math.floor(w / sx);
  if (offsets.length !== hsy * wsx) throw new Error(`partitionTokens: expected ${hsy * wsx} cell offsets for a ${h}x${w} grid with ${sy}x${sx} cells, got ${offsets.length}.`);
  const isDst = new Uint8Array(h * w);
  for (let i = 0; i < hsy; i++) {
    for (let j = 0; j < wsx; j++) {
      const k = offsets[i * wsx + j];
      if (k < 0 || k >= sx * sy) throw new Error(`partitionTokens: cell offset ${k} is outside 0..${sx * sy - 1}.`);
      isDst[(i * sy + Math.floor(k / sx)) * w + j * sx + (k % sx)] = 1;
    }
  }
  const dst: number[] = [];
  const src: number[] = [];
  for (let n = 0; n < h * w; n++) (isDst[n] ? dst : src).push(n);
  return { dst: Int32Array.from(dst), src: Int32Array.from(src) };
}

/**
 * Bipartite soft matching on one batch element's tokens.
 * @param metric [N, C] similarity features (the block input before norm1)
 * @param r number of sources to merge (clamped to the number of sources)
 * @param penalty optional [N] per-token score penalty (object-centric ToMe: beta * saliency)
 */
export function matchTokens(metric: Float32Array, channels: number, partition: TokenPartition, r: number, penalty?: Float32Array): MergePlan {
  const { src, dst } = partition;
  const unit = (n: number): Float32Array => {
    const v = metric.subarray(n * channels, (n + 1) * channels);
    let norm = 0;
    for (let c = 0; c < channels; c++) norm += v[c] * v[c];
    norm = Math.sqrt(norm);
    return Float32Array.from(v, (x) => x / norm);
  };
  const dstUnit = Array.from(dst, unit);
  const bestScore = new Float32Array(src.length);
  const bestDst = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const a = unit(src[i]);
    let best = -Infinity;
    let bestJ = 0;
    for (let j = 0; j < dst.length; j++) {
      const b = dstUnit[j];
      let s = 0;
      for (let c = 0; c < channels; c++) s += a[c] * b[c];
      if (s > best) { best = s; bestJ = j; }
    }
    bestScore[i] = penalty ? best - penalty[src[i]] : best;
    bestDst[i] = bestJ;
  }
  const order = Array.from(src, (_, i) => i).sort((x, y) => bestScore[y] - bestScore[x] || x - y);
  const merged = Math.max(0, Math.min(r, src.length));
  const mergedSources = Int32Array.from(order.slice(0, merged));
  return {
    partition,
    mergedSources,
    keptSources: Int32Array.from(order.slice(merged)),
    destinations: Int32Array.from(mergedSources, (i) => bestDst[i]),
  };
}

/**
 * Merge x [N, C] -> [N - r, C] = [kept sources..., destinations...]; each destination becomes the mean of itself
 * and the sources merged into it.
 */
export function mergeTokens(x: Float32Array, channels: number, plan: MergePlan): Float32Array {
  const { src, dst } = plan.partition;
  const kept = plan.keptSources.length;
  const out = new Float32Array((kept + dst.length) * channels);
  plan.keptSources.forEach((i, row) => out.set(x.subarray(src[i] * channels, (src[i] + 1) * channels), row * channels));
  const counts = new Float32Array(dst.length).fill(1);
  dst.forEach((n, j) => out.set(x.subarray(n * channels, (n + 1) * channels), (kept + j) * channels));
  plan.mergedSources.forEach((i, k) => {
    const j = plan.destinations[k];
    counts[j] += 1;
    const base = (kept + j) * channels;
    for (let c = 0; c < channels; c++) out[base + c] += x[src[i] * channels + c];
  });
  for (let j = 0; j < dst.length; j++) {
    const base = (kept + j) * channels;
    for (let c = 0; c < channels; c++) out[base + c] /= counts[j];
  }
  return out;
}

/** Unmerge y [N - r, C] -> [N, C]: every merged source receives a copy of its destination's row. */
export function unmergeTokens(y: Float32Array, channels: number, plan: MergePlan): Float32Array {
  const { src, dst } = plan.partition;
  const kept = plan.keptSources.length;
  const out = new Float32Array((src.length + dst.length) * channels);
  dst.forEach((n, j) => out.set(y.subarray((kept + j) * channels, (kept + j + 1) * channels), n * channels));
  plan.keptSources.forEach((i, row) => out.set(y.subarray(row * channels, (row + 1) * channels), src[i] * channels));
  plan.mergedSources.forEach((i, k) => {
    const j = plan.destinations[k];
    out.set(y.subarray((kept + j) * channels, (kept + j + 1) * channels), src[i] * channels);
  });
  return out;
}

/** Merge groups (destination token -> merged source tokens), the ordering-free view of a plan. */
export function mergeGroups(plan: MergePlan): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  plan.mergedSources.forEach((i, k) => {
    const d = plan.partition.dst[plan.destinations[k]];
    const list = groups.get(d) ?? [];
    list.push(plan.partition.src[i]);
    groups.set(d, list);
  });
  for (const list of groups.values()) list.sort((a, b) => a - b);
  return groups;
}

/**
 * Stores paired plans: what inversion computed at (timestep, site) is what editing at the same timestep imports.
 * Plans are opaque to the store (in-graph plans are index tensors); it counts hits so tests can prove reuse.
 */
export class PairedPlanStore<Plan> {
  private readonly plans = new Map<string, Plan>();
  /** how many times `take` found a plan */
  hits = 0;

  private static key(timestep: number, site: string): string {
    return `${timestep}|${site}`;
  }

  /** Records the plan computed at (timestep, site). */
  put(timestep: number, site: string, plan: Plan): void {
    this.plans.set(PairedPlanStore.key(timestep, site), plan);
  }

  /** The plan recorded at (timestep, site). @throws when inversion never recorded one there (unpaired timesteps). */
  get(timestep: number, site: string): Plan {
    const plan = this.plans.get(PairedPlanStore.key(timestep, site));
    if (plan === undefined) {
      throw new Error(`No token-merge plan was recorded at timestep ${timestep} for ${site}; pairing needs inversion and editing on the same timesteps (inversion timesteps: ${this.timesteps().join(', ') || 'none'}).`);
    }
    this.hits++;
    return plan;
  }

  has(timestep: number, site: string): boolean {
    return this.plans.has(PairedPlanStore.key(timestep, site));
  }

  /** Timesteps that have at least one plan, ascending. */
  timesteps(): number[] {
    return [...new Set([...this.plans.keys()].map((k) => Number(k.split('|')[0])))].sort((a, b) => a - b);
  }

  get size(): number {
    return this.plans.size;
  }
}
