import { describe, expect, it } from 'vitest';
import {
  aboveMeanNormalize, attentionSaliency, rangeNormalize, blendLatents, boxAtLevel, cropLatent, decoupledSchedule, dilate, feather, foregroundBox, isFullFrame, maskArea, pasteLatent,
  poolMask, restrictMap, threshold,
} from '../../../gpu-runner/engine/ocs.ts';

function maskWith(frames: number, h: number, w: number, on: [number, number, number][]): Float32Array {
  const m = new Float32Array(frames * h * w);
  for (const [f, y, x] of on) m[(f * h + y) * w + x] = 1;
  return m;
}

describe('foregroundBox', () => {
  it('takes the union over frames, pads, rounds the size up to a multiple of 8, centres and clamps', () => {
    const m = maskWith(2, 32, 32, [[0, 10, 12], [1, 14, 20]]);
    // rows 10..14 (5) -> 8 rows from 9; cols 12..20 (9) -> 16 cols from 9
    expect(foregroundBox(m, 2, 32, 32, 0)).toEqual({ top: 9, left: 9, height: 8, width: 16 });
    // pad 3: rows 7..17 (11) -> 16 from 5; cols 9..23 (15) -> 16 from 9
    expect(foregroundBox(m, 2, 32, 32, 3)).toEqual({ top: 5, left: 9, height: 16, width: 16 });
    // a corner pixel padded by 4: clamped inside the latent
    expect(foregroundBox(maskWith(1, 32, 32, [[0, 31, 31]]), 1, 32, 32, 4)).toEqual({ top: 24, left: 24, height: 8, width: 8 });
  });
  it('is null for an empty mask and full-frame for a full one', () => {
    expect(foregroundBox(new Float32Array(64), 1, 8, 8)).toBeNull();
    const box = foregroundBox(new Float32Array(2 * 16 * 16).fill(1), 2, 16, 16);
    expect(box && isFullFrame(box, 16, 16)).toBe(true);
  });
});

describe('mask operations', () => {
  it('dilates by a square radius', () => {
    const d = dilate(maskWith(1, 5, 5, [[0, 2, 2]]), 1, 5, 5, 1);
    expect(maskArea(d)).toBeCloseTo(9 / 25);
    expect(d[0]).toBe(0);
    expect(d[1 * 5 + 1]).toBe(1);
  });
  it('average-pools to the latent grid', () => {
    const m = maskWith(1, 4, 4, [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 3, 3]]);
    expect([...poolMask(m, 1, 4, 4, 2, 2)]).toEqual([1, 0, 0, 0.25]);
  });
  it('feathering keeps a full mask full and softens an edge', () => {
    expect(feather(new Float32Array(16).fill(1), 1, 4, 4, 1).every((v) => v === 1)).toBe(true);
    const soft = feather(maskWith(1, 1, 4, [[0, 0, 0], [0, 0, 1]]), 1, 1, 4, 1);
    expect(soft[1]).toBeCloseTo(2 / 3);
    expect(soft[2]).toBeCloseTo(1 / 3);
  });
});

describe('crop, paste, blend', () => {
  const F = 2, C = 3, H = 16, W = 16;
  const z = Float32Array.from({ length: F * C * H * W }, (_, i) => i);
  const box = { top: 8, left: 0, height: 8, width: 8 };
  it('paste(crop(z)) = z', () => {
    const crop = cropLatent(z, F, C, H, W, box);
    expect(crop.length).toBe(F * C * 64);
    expect(crop[0]).toBe(8 * W);
    expect(pasteLatent(z, crop, F, C, H, W, box)).toEqual(z);
  });
  it('blend with mask 1 gives the foreground and 0 the background', () => {
    const bg = new Float32Array(z.length).fill(-1);
    expect(blendLatents(z, bg, new Float32Array(F * H * W).fill(1), F, C, H, W)).toEqual(z);
    expect(blendLatents(z, bg, new Float32Array(F * H * W), F, C, H, W)).toEqual(bg);
  });
  it('scales the box to coarser levels, flooring the position', () => {
    expect(boxAtLevel({ top: 8, left: 16, height: 16, width: 8 }, 3)).toEqual({ top: 1, left: 2, height: 2, width: 1 });
    expect(boxAtLevel({ top: 5, left: 9, height: 16, width: 8 }, 2)).toEqual({ top: 1, left: 2, height: 4, width: 2 });
  });
});

describe('restrictMap', () => {
  it('keeps crop rows for cross maps and renormalizes crop key columns for self maps', () => {
    // batch 1, heads 1, 4x4 grid (Q = 16), self keys 16
    const Q = 16;
    const map = Float32Array.from({ length: Q * Q }, (_, i) => 1 + (i % 7));
    const box = { top: 2, left: 2, height: 2, width: 2 };
    const self = restrictMap(map, 1, 1, 4, Q, box, { width: 4 });
    expect(self.length).toBe(4 * 4);
    for (let r = 0; r < 4; r++) expect(self.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    const text = Float32Array.from({ length: Q * 77 }, (_, i) => i);
    const cross = restrictMap(text, 1, 1, 4, 77, box, null);
    expect(cross.length).toBe(4 * 77);
    expect(cross[0]).toBe(10 * 77); // row of token (2, 2)
  });
});

describe('decoupledSchedule', () => {
  it('K = round(gamma N); coarse background runs ceil(phi K) steps spread evenly from 0', () => {
    expect(decoupledSchedule(20, 0.5, 0.25)).toEqual({ decoupledSteps: 10, backgroundSteps: [0, 3, 6] });
    expect(decoupledSchedule(20, 0.5, 1).backgroundSteps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(decoupledSchedule(20, 0, 0.25)).toEqual({ decoupledSteps: 0, backgroundSteps: [] });
  });
});

describe('auto saliency from word attention', () => {
  it('range-normalizes each frame between its own minimum and maximum; a flat frame becomes 0', () => {
    const v = Float32Array.of(0.2, 0.25, 0.3, 0.3, 0.3, 0.3);
    expect([...rangeNormalize(v, 2)].map((x) => +x.toFixed(6))).toEqual([0, 0.5, 1, 0, 0, 0]);
  });

  it('cuts a weak peak out of its background, where dividing by the maximum alone would keep the whole frame', () => {
    // softmax-like attention: never 0, a peak only 1.5x the floor in the middle 2x2 of a 4x4 frame
    const att = new Float32Array(16).fill(0.02);
    for (const i of [5, 6, 9, 10]) att[i] = 0.03;
    const mask = attentionSaliency(att, 1, 4, 4, 0.3, 0);
    expect([...mask]).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    expect(maskArea(attentionSaliency(att, 1, 4, 4, 0.3, 1))).toBe(1); // dilated by 1: the whole 4x4
    expect(maskArea(attentionSaliency(new Float32Array(16).fill(0.02), 1, 4, 4, 0.3, 1))).toBe(0); // flat: nothing
  });

  it('normalizes each frame from its mean up to its maximum, clamping below the mean; a flat frame becomes 0', () => {
    const v = Float32Array.of(0.1, 0.2, 0.2, 0.5, 0.3, 0.3, 0.3, 0.3);
    // frame 0: mean 0.25, max 0.5; frame 1: flat
    expect([...aboveMeanNormalize(v, 2)].map((x) => +x.toFixed(6))).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('keeps a small peak when one low outlier would pull the whole frame above the threshold of a min-max scale', () => {
    // a 4x4 frame at 0.1 with one pixel at 0 (an outlier) and a peak of 0.3 at one pixel
    const att = new Float32Array(16).fill(0.1);
    att[0] = 0;
    att[10] = 0.3;
    expect(maskArea(threshold(rangeNormalize(att, 1), 0.3))).toBe(15 / 16); // min-max: all but the outlier
    expect([...attentionSaliency(att, 1, 4, 4, 0.3, 0)].map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([10]);
  });
});
