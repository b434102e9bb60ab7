import { describe, expect, it } from 'vitest';
import { classifierFreeGuidance } from '../../../gpu-runner/schedulers/guidance.ts';

describe('classifierFreeGuidance', () => {
  it('returns ε_u + g·(ε_c − ε_u) over the [uncond, cond] halves', () => {
    const batch = Float32Array.from([1, 2, 0, /* cond: */ 3, 2, -1]);
    expect(Array.from(classifierFreeGuidance(batch, 7.5))).toEqual([16, 2, -7.5]);
  });

  it('returns the conditional half for g = 1 and the unconditional half for g = 0', () => {
    const batch = Float32Array.from([0.25, -4, 1.5, 8]);
    expect(Array.from(classifierFreeGuidance(batch, 1))).toEqual([1.5, 8]);
    expect(Array.from(classifierFreeGuidance(batch, 0))).toEqual([0.25, -4]);
  });

  it('fails on an odd length', () => {
    expect(() => classifierFreeGuidance(new Float32Array(3), 7.5)).toThrow(/even length.*got 3/);
  });
});
