import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_CASES_DIR } from '../../../support/paths.ts';
import { maxAbsDiff, readSafetensors } from '../support/safetensors.ts';
import {
  destinationOffsets, matchTokens, mergeGroups, mergeTokens, PairedPlanStore, partitionTokens, unmergeTokens,
} from '../../../../gpu-runner/engine/tome/plans.ts';

const cases = readSafetensors(resolve(REFERENCE_CASES_DIR, 'tomesd_merge.safetensors'));
const json = JSON.parse(readFileSync(resolve(REFERENCE_CASES_DIR, 'tomesd_merge.json'), 'utf8')) as {
  merge_groups: { groups: Record<string, number[]>[] };
};
const [B, N, C] = cases['input.metric'].shape;

function batchItem(name: string, b: number, rows: number): Float32Array {
  return (cases[name].data as Float32Array).slice(b * rows * C, (b + 1) * rows * C);
}

describe('tomesd bipartite soft matching (use_rand=False, 8x8, r=24)', () => {
  const offsets = destinationOffsets({ seed: null, frames: 1, h: 8, w: 8, sx: 2, sy: 2 })[0];
  const partition = partitionTokens(8, 8, 2, 2, offsets);

  it('picks the top-left token of every 2x2 cell as destination, like tomesd', () => {
    expect([...partition.dst]).toEqual([...(cases['index.b_idx'].data as number[])].sort((a, b) => a - b));
    expect([...partition.src]).toEqual([...(cases['index.a_idx'].data as number[])].sort((a, b) => a - b));
  });

  for (let b = 0; b < B; b++) {
    it(`reproduces the merge groups, the merged rows and the round trip of batch item ${b}`, () => {
      const plan = matchTokens(batchItem('input.metric', b, N), C, partition, 24);
      const groups = Object.fromEntries([...mergeGroups(plan)].map(([d, s]) => [String(d), s]));
      expect(groups).toEqual(json.merge_groups.groups[b]);

      // merged_canonical = tomesd's merged rows sorted by original token index.
      const merged = mergeTokens(batchItem('input.x', b, N), C, plan);
      const rowToken = [...Array.from(plan.keptSources, (i) => partition.src[i]), ...partition.dst];
      const order = rowToken.map((t, row) => [t, row]).sort((p, q) => p[0] - q[0]).map(([, row]) => row);
      const canonical = new Float32Array(order.length * C);
      order.forEach((row, k) => canonical.set(merged.subarray(row * C, (row + 1) * C), k * C));
      expect(maxAbsDiff(canonical, batchItem('output.merged_canonical', b, N - 24))).toBeLessThan(1e-6);

      const roundTrip = unmergeTokens(merged, C, plan);
      expect(maxAbsDiff(roundTrip, batchItem('output.unmerged_merged', b, N))).toBeLessThan(1e-6);
    });
  }

  it('merges nothing when r = 0 (unmerge(merge(x)) = x)', () => {
    const x = batchItem('input.x', 0, N);
    const plan = matchTokens(batchItem('input.metric', 0, N), C, partition, 0);
    expect(unmergeTokens(mergeTokens(x, C, plan), C, plan)).toEqual(x);
  });

  it('object-centric penalty keeps penalised (foreground) sources unmerged', () => {
    const metric = batchItem('input.metric', 0, N);
    const foreground = [9, 10, 11, 17, 19, 25, 26, 27]; // sources around token 18
    const penalty = new Float32Array(N);
    for (const t of foreground) penalty[t] = 10;
    const plan = matchTokens(metric, C, partition, 24, penalty);
    const mergedTokens = new Set(Array.from(plan.mergedSources, (i) => partition.src[i]));
    for (const t of foreground) expect(mergedTokens.has(t)).toBe(false);
    const plain = matchTokens(metric, C, partition, 24);
    expect(foreground.some((t) => Array.from(plain.mergedSources, (i) => partition.src[i]).includes(t))).toBe(true);
  });
});

describe('destination sampling', () => {
  it('draws independent patterns per frame, reproducibly from the seed', () => {
    const a = destinationOffsets({ seed: 7, frames: 4, h: 16, w: 16, sx: 2, sy: 2 });
    const b = destinationOffsets({ seed: 7, frames: 4, h: 16, w: 16, sx: 2, sy: 2 });
    const c = destinationOffsets({ seed: 8, frames: 4, h: 16, w: 16, sx: 2, sy: 2 });
    expect(a).toEqual(b);
    expect(a[0]).not.toEqual(a[1]);
    expect(a[0]).not.toEqual(c[0]);
    for (const frame of a) for (const k of frame) expect(k >= 0 && k < 4).toBe(true);
    // every offset value occurs: the draw is not stuck on one corner
    expect(new Set(a.flatMap((f) => [...f])).size).toBe(4);
  });

  it('keeps rows and columns beyond the last full cell as sources', () => {
    const offsets = destinationOffsets({ seed: 1, frames: 1, h: 5, w: 5, sx: 2, sy: 2 })[0];
    const p = partitionTokens(5, 5, 2, 2, offsets);
    expect(p.dst.length).toBe(4);
    expect(p.src.length).toBe(21);
    for (const d of p.dst) expect(Math.floor(d / 5) < 4 && d % 5 < 4).toBe(true);
  });
});

describe('PairedPlanStore', () => {
  it('returns what was stored at the same timestep and site, and fails for an unpaired timestep', () => {
    const store = new PairedPlanStore<string>();
    store.put(21, 'down.0.attn1', 'plan-21');
    expect(store.get(21, 'down.0.attn1')).toBe('plan-21');
    expect(store.hits).toBe(1);
    expect(() => store.get(41, 'down.0.attn1')).toThrow(/timestep 41.*inversion timesteps: 21/);
  });
});
