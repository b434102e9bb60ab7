import { describe, expect, it } from 'vitest';
import { blendMask, maxPool3x3, normalizePerFrame, resizeNearest, wordAttention } from '../../../../gpu-runner/engine/fusion/blend-mask.ts';

describe('blend mask pieces', () => {
  it('wordAttention sums the word tokens and averages heads and layers', () => {
    // 1 frame, 2 heads, 1x1 grid, 3 keys; two layers
    const a = { data: Float32Array.from([0.1, 0.2, 0.7, 0.3, 0.3, 0.4]), frames: 1, heads: 2, height: 1, width: 1, keys: 3 };
    const b = { ...a, data: Float32Array.from([0, 1, 0, 0, 0, 1]) };
    const out = wordAttention([a, b], [1, 2]);
    expect(out.data[0]).toBeCloseTo((0.9 + 0.7 + 1 + 1) / 4);
  });

  it('max-pools 3x3 with padding that never wins', () => {
    const out = maxPool3x3(Float32Array.from([-5, -9, -9, -9]), 1, 2, 2);
    expect([...out]).toEqual([-5, -5, -5, -5]);
  });

  it('nearest-resizes like PyTorch (floor of dst * in / out)', () => {
    expect([...resizeNearest(Float32Array.from([1, 2, 3, 4]), 1, 2, 2, 4, 4)]).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it('normalizes per frame', () => {
    expect([...normalizePerFrame(Float32Array.from([1, 2, 0, 0]), 2)]).toEqual([0.5, 1, 0, 0]);
  });

  it('marks where the blend words attend, per frame', () => {
    // 2 frames, 1 head, 4x4 grid, 2 keys; token 1 attends at (0,0) in frame 0 and (3,3) in frame 1
    const data = new Float32Array(2 * 16 * 2);
    for (let f = 0; f < 2; f++) for (let q = 0; q < 16; q++) { data[(f * 16 + q) * 2] = 1; }
    data[(0 * 16 + 0) * 2 + 1] = 1;
    data[(1 * 16 + 15) * 2 + 1] = 1;
    const mask = blendMask([{ data, frames: 2, heads: 1, height: 4, width: 4, keys: 2 }], [1], 4, 4, 0.3);
    expect([...mask.slice(0, 16)]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...mask.slice(16)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
  });
});
