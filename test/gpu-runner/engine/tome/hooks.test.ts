import { describe, expect, it } from 'vitest';
import { NO_TOME, tomeHooks, unmergeRows, type FramePlan } from '../../../../gpu-runner/engine/tome/hooks.ts';
import { mapLayoutOf, valuesPerMapRow } from '../../../../gpu-runner/engine/tome/map-layout.ts';
import { resolveOptions } from '../../../../gpu-runner/engine/presets.ts';

const prompts = { sourcePrompt: 'a bear', targetPrompt: 'a tiger' };
const geometry = { frames: 2, latentHeight: 32, latentWidth: 32 };
const frameSite = { name: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', level: 0, height: 32, width: 32, mergedTokens: 512, scope: 'frame' as const, target: 'all' as const, frames: 2, crossFrame: false };

describe('token-merge run', () => {
  it('is off when merging is disabled or every ratio is 0', () => {
    expect(tomeHooks(resolveOptions({ ...prompts, preset: 'fatezero' }), geometry)).toBe(NO_TOME);
    expect(tomeHooks(resolveOptions({ ...prompts, preset: 'optimized', tome: { ratio: [0, 0] } }), geometry)).toBe(NO_TOME);
  });

  it('draws one clip-scope pattern per (timestep, layer) over st x sy x sx cells, shared by the CFG groups', () => {
    const run = tomeHooks(resolveOptions({ ...prompts, preset: 'optimized', tome: { paired: false, scope: 'clip', st: 2 } }), geometry);
    const site = { ...frameSite, scope: 'clip' as const, mergedTokens: 1024 };
    const feed = (t: number) => run.feeds(t, 'edit', 2, 2, [site])[`${site.name}.tome.dst_offsets`] as { int64: BigInt64Array; dims: number[] };
    const a = feed(21);
    expect(a.dims).toEqual([1, 256]); // 2 frames / st 2 x (32/2) x (32/2) cells
    const offsets = [...a.int64].map(Number);
    expect(Math.min(...offsets)).toBe(0);
    expect(Math.max(...offsets)).toBe(7); // offsets cover 0..st·sy·sx-1: some destinations lie in the second frame
    expect(feed(41).int64).not.toEqual(a.int64); // resampled per step
    expect(run.key).toContain('clip2');
  });

  it('draws seeded destinations per frame, the same for both CFG groups, and different per timestep', () => {
    const run = tomeHooks(resolveOptions({ ...prompts, preset: 'optimized', tome: { paired: false } }), geometry);
    const site = frameSite;
    const a = run.feeds(21, 'edit', 2, 2, [site])[`${site.name}.tome.dst_offsets`] as { int64: BigInt64Array; dims: number[] };
    const again = run.feeds(21, 'edit', 2, 2, [site])[`${site.name}.tome.dst_offsets`] as { int64: BigInt64Array; dims: number[] };
    const other = run.feeds(41, 'edit', 2, 2, [site])[`${site.name}.tome.dst_offsets`] as { int64: BigInt64Array; dims: number[] };
    expect(a.dims).toEqual([4, 256]);
    const row = (t: { int64: BigInt64Array }, r: number) => [...t.int64.subarray(r * 256, (r + 1) * 256)];
    expect(row(a, 0)).toEqual(row(a, 2)); // frame 0: uncond and cond share the pattern
    expect(row(a, 0)).not.toEqual(row(a, 1)); // per-frame resampling
    expect(again.int64).toEqual(a.int64);
    expect(other.int64).not.toEqual(a.int64);
  });

  it('paired editing fails loudly when inversion recorded no plan at that timestep', () => {
    const run = tomeHooks(resolveOptions({ ...prompts, preset: 'optimized' }), geometry);
    const site = { ...frameSite, name: 'x.attn1' };
    expect(() => run.feeds(21, 'edit', 2, 2, [site])).toThrow(/No token-merge plan was recorded at timestep 21/);
  });
});

describe('unmergeRows', () => {
  it('maps kept tokens to their rows, destinations after them, merged sources to their destination', () => {
    // 8 tokens; destinations 0 and 4; kept 1, 5; merged 2, 3 -> slot 0 and 6, 7 -> slot 1
    const plan: FramePlan = {
      dstTokens: { data: Int32Array.from([0, 4]), rows: 1 },
      kept: { data: Int32Array.from([1, 5]), rows: 1 },
      merged: { data: Int32Array.from([2, 3, 6, 7]), rows: 1 },
      dstSlot: { data: Int32Array.from([0, 0, 1, 1]), rows: 1 },
    };
    expect([...unmergeRows(plan, 0, 8)]).toEqual([2, 0, 2, 2, 3, 1, 3, 3]);
  });
});

describe('merge ratios against the cell maximum', () => {
  it('fails a ratio that would merge every source and more: frame scope above 1 - 1/(sy·sx), clip scope above 1 - 1/(st·sy·sx)', () => {
    expect(() => resolveOptions({ ...prompts, preset: 'optimized', tome: { ratio: [0.8] } })).toThrow(/tome\.ratio\.0: is 0\.8 but frame scope with 2x2 cells merges at most 0\.7500/);
    expect(resolveOptions({ ...prompts, preset: 'optimized', tome: { ratio: [0.8], scope: 'clip', st: 2 } }).tome.ratio).toEqual([0.8]);
    expect(() => resolveOptions({ ...prompts, preset: 'ocd', tome: { ratio: [0.5, 0.9] } })).toThrow(/clip scope with 2x2x2 cells merges at most 0\.8750/);
    expect(resolveOptions({ ...prompts, preset: 'ocd', tome: { ratio: [0.5, 0.9], st: 4 } }).tome.st).toBe(4);
  });
});

describe('mapLayoutOf', () => {
  // 2 frames of 4 tokens, clip scope: destinations 0 and 6; kept 1 and 4; merged 2, 3 -> slot 0 and 5, 7 -> slot 1
  const plan: FramePlan = {
    dstTokens: { data: Int32Array.from([0, 6]), rows: 1 },
    kept: { data: Int32Array.from([1, 4]), rows: 1 },
    merged: { data: Int32Array.from([2, 3, 5, 7]), rows: 1 },
    dstSlot: { data: Int32Array.from([0, 0, 1, 1]), rows: 1 },
  };
  const site = { ...frameSite, height: 2, width: 2, frames: 2, scope: 'clip' as const, mergedTokens: 4, crossFrame: true };

  it('clip scope: one map entry whose rows each frame reads through the clip plan; keys are the middle frame (0) tokens', () => {
    const layout = mapLayoutOf(site, plan);
    expect(layout.mapFrames).toBe(1);
    expect([layout.batchOf(0), layout.batchOf(1)]).toEqual([0, 0]);
    expect([...layout.rowsOf(0)!]).toEqual([2, 0, 2, 2]); // token 0 is dst row 2, 1 kept row 0, 2 and 3 merged into dst 0
    expect([...layout.rowsOf(1)!]).toEqual([1, 3, 3, 3]); // token 4 kept row 1, 5 and 7 merged into dst 6 (row 3)
    expect([...layout.colsOf(1)!]).toEqual([2, 0, 2, 2]);
    // a mask on frame 1's last three tokens: row 3 holds tokens 5, 6, 7 -> 1; row 2 holds 0, 2, 3 -> 0
    const rows = valuesPerMapRow(Float32Array.from([0, 0, 0, 0, 0, 1, 1, 1]), 2, 4, layout);
    expect([...rows]).toEqual([0, 0, 0, 1]);
  });

  it('keys/values only: query rows stay tokens, one map entry per frame', () => {
    const layout = mapLayoutOf({ ...site, target: 'kv' }, plan);
    expect(layout.mapFrames).toBe(2);
    expect(layout.rowsOf(1)).toBeNull();
    expect(layout.batchOf(1)).toBe(1);
    expect([...valuesPerMapRow(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 2, 4, layout)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('merge counts', () => {
  it('counts merges across frames and foreground sources merged and spared per level', () => {
    const run = tomeHooks(resolveOptions({ ...prompts, preset: 'ocd', tome: { st: 2 } }), geometry);
    const site = { ...frameSite, name: 'mid.attn1', level: 0, height: 2, width: 2, frames: 2, scope: 'clip' as const, mergedTokens: 4, crossFrame: true };
    // foreground: tokens 3 (frame 0) and 5 (frame 1)
    const mask = new Float32Array(8);
    mask[3] = 1; mask[5] = 1;
    run.setSaliency(mask, 2, 2, 2);
    run.feeds(7, 'record', 2, 1, [site]);
    const t = (data: number[]) => ({ int64: BigInt64Array.from(data.map(BigInt)), dims: [1, data.length] });
    run.collect(7, {
      'mid.attn1.tome.dst_tokens': t([0, 6]), 'mid.attn1.tome.kept_tokens': t([1, 4]),
      'mid.attn1.tome.merged_tokens': t([2, 3, 5, 7]), 'mid.attn1.tome.dst_slot': t([0, 0, 1, 1]),
    }, [site]);
    // merged: 2->0, 3->0 (same frame), 5->6, 7->6 (same frame): none across; foreground 3 and 5 merged, none spared
    expect(run.counts()).toEqual([expect.objectContaining({ level: 0, scope: 'clip', plans: 1, tokens: 8, merged: 4, acrossFrames: 0, foregroundSources: 2, foregroundMerged: 2, foregroundSpared: 0 })]);
    run.collect(9, {
      'mid.attn1.tome.dst_tokens': t([0, 6]), 'mid.attn1.tome.kept_tokens': t([3, 5]),
      'mid.attn1.tome.merged_tokens': t([1, 2, 4, 7]), 'mid.attn1.tome.dst_slot': t([1, 0, 0, 1]),
    }, [site]);
    // second plan: 1->6 and 4->0 cross frames; foreground 3 and 5 kept. Means over the two plans:
    expect(run.counts()[0]).toMatchObject({ plans: 2, merged: 4, acrossFrames: 1, foregroundMerged: 1, foregroundSpared: 1 });
  });
});
