import { describe, expect, it } from 'vitest';

import { selectFrames } from '../../../gpu-runner/video/selection.ts';

const cfr = (count: number, fps: number): number[] => Array.from({ length: count }, (_, i) => i / fps);

describe('selectFrames', () => {
  it("'first' takes frames 0..N-1 of a constant-rate clip at the source rate", () => {
    const selection = selectFrames(cfr(20, 8), { maxFrames: 5, mode: 'first', sourceFps: 8 });
    expect(selection.indices).toEqual([0, 1, 2, 3, 4]);
    expect(selection.stride).toBe(1);
    expect(selection.fps).toBe(8);
    expect(selection.times).toEqual([0, 0.125, 0.25, 0.375, 0.5]);
  });

  it("'first' with a sampling rate takes every r-th frame from the start (FateZero's sampling_rate)", () => {
    const selection = selectFrames(cfr(20, 8), { maxFrames: 4, mode: 'first', sourceFps: 8, samplingRate: 3 });
    expect(selection.indices).toEqual([0, 3, 6, 9]);
    expect(selection.stride).toBe(3);
    expect(selection.fps).toBe(8 / 3);
    expect(() => selectFrames(cfr(4, 8), { maxFrames: 2, mode: 'first', sourceFps: 8, samplingRate: 0 })).toThrow(/samplingRate/);
  });

  it("'spread' uses the smallest whole stride that fits the clip", () => {
    // 50 frames into 8: stride ceil(50 / 8) = 7 -> 0, 7, ..., 49 (FateZero's blackswan sampling).
    const selection = selectFrames(cfr(50, 8), { maxFrames: 8, mode: 'spread', sourceFps: 8 });
    expect(selection.indices).toEqual([0, 7, 14, 21, 28, 35, 42, 49]);
    expect(selection.stride).toBe(7);
    expect(selection.fps).toBeCloseTo(8 / 7, 12);
  });

  it("'spread' returns fewer frames when the stride does not divide evenly", () => {
    // 20 frames into 8: stride 3 -> 0, 3, ..., 18 = 7 frames.
    expect(selectFrames(cfr(20, 10), { maxFrames: 8, mode: 'spread', sourceFps: 10 }).indices).toEqual([0, 3, 6, 9, 12, 15, 18]);
  });

  it.each(['first', 'spread'] as const)("'%s' returns every frame of a clip shorter than maxFrames", (mode) => {
    expect(selectFrames(cfr(3, 8), { maxFrames: 8, mode, sourceFps: 8 }).indices).toEqual([0, 1, 2]);
  });

  it('survives timestamps that are not exact in binary (29.97 fps)', () => {
    const fps = 30000 / 1001;
    const times = Array.from({ length: 300 }, (_, i) => Number(((i * 1001) / 30000).toFixed(6)));
    const selection = selectFrames(times, { maxFrames: 10, mode: 'spread', sourceFps: fps });
    expect(selection.indices).toEqual([0, 30, 60, 90, 120, 150, 180, 210, 240, 270]);
  });

  it('picks by time on variable frame rate input: the frame on screen at each grid time', () => {
    // 4 frames at 0.25 s spacing, then 8 at 0.0625 s: average rate 12 / 1.5 s = 8 fps (hand-made times).
    const times = [0, 0.25, 0.5, 0.75, 1, 1.0625, 1.125, 1.1875, 1.25, 1.3125, 1.375, 1.4375];
    const selection = selectFrames(times, { maxFrames: 6, mode: 'first', sourceFps: 8 });
    // Grid 0, 0.125, ..., 0.625: slow frames repeat, as a constant-rate player would show them.
    expect(selection.indices).toEqual([0, 0, 1, 1, 2, 2]);
    const spread = selectFrames(times, { maxFrames: 3, mode: 'spread', sourceFps: 8 });
    // clip end 1.5625 s -> 13 grid points -> stride 5: grid 0, 0.625, 1.25.
    expect(spread.indices).toEqual([0, 2, 8]);
  });

  it('returns nothing for no frames', () => {
    expect(selectFrames([], { maxFrames: 4, mode: 'first', sourceFps: 8 }).indices).toEqual([]);
  });

  it.each([
    [{ maxFrames: 0, mode: 'first', sourceFps: 8 }, /maxFrames/],
    [{ maxFrames: 2.5, mode: 'first', sourceFps: 8 }, /maxFrames/],
    [{ maxFrames: 2, mode: 'first', sourceFps: 0 }, /sourceFps/],
    [{ maxFrames: 2, mode: 'every', sourceFps: 8 }, /'first' or 'spread'/],
  ] as const)('fails for invalid options %j', (options, message) => {
    expect(() => selectFrames([0], options as never)).toThrow(message);
  });
});
