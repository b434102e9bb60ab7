import { describe, expect, it } from 'vitest';
import { NO_TOME, tomeHooks, unmergeRows, type FramePlan } from '../../../../gpu-runner/engine/tome/hooks.ts';
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
