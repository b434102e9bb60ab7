import { describe, expect, it } from 'vitest';
import { numpyArange, numpyLinspace, roundHalfToEven, torchLinspaceFloat32 } from '../../../gpu-runner/schedulers/array-compat.ts';
import { makeNoiseSchedule } from '../../../gpu-runner/schedulers/noise-schedule.ts';
import { float32Of } from '../../support/safetensors-lite.ts';
import { schedulerReference, schedulerTensors } from './reference-loops.ts';

const sd15 = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', trained_betas: null };

describe('makeNoiseSchedule', () => {
  it('reproduces diffusers\' SD 1.5 betas and alphas_cumprod bit for bit', () => {
    const schedule = makeNoiseSchedule(sd15);
    expect(Array.from(schedule.betas)).toEqual(Array.from(float32Of(schedulerTensors, 'betas')));
    expect(Array.from(schedule.alphasCumprod)).toEqual(Array.from(float32Of(schedulerTensors, 'alphas_cumprod')));
  });

  it('matches the documented constants', () => {
    const { alphasCumprod, betas } = makeNoiseSchedule(sd15);
    const c = schedulerReference.constants;
    expect(alphasCumprod[0]).toBe(c['alphas_cumprod[0]']);
    expect(alphasCumprod[500]).toBe(c['alphas_cumprod[500]']);
    expect(alphasCumprod[999]).toBe(c['alphas_cumprod[999]']);
    expect(betas[0]).toBe(c['betas[0]']);
    expect(betas[999]).toBe(c['betas[999]']);
  });

  it('builds a linear schedule from beta_start to beta_end', () => {
    const { betas } = makeNoiseSchedule({ ...sd15, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 });
    expect(betas[0]).toBe(Math.fround(0.0001));
    expect(betas[999]).toBe(Math.fround(0.02));
    expect(betas[500] - betas[499]).toBeCloseTo((0.02 - 0.0001) / 999, 8);
  });

  it('uses trained_betas when given', () => {
    const { betas, alphasCumprod } = makeNoiseSchedule({ ...sd15, num_train_timesteps: 3, trained_betas: [0.1, 0.2, 0.5] });
    expect(Array.from(betas)).toEqual([0.1, 0.2, 0.5].map(Math.fround));
    expect(alphasCumprod[2]).toBeCloseTo(0.9 * 0.8 * 0.5, 6);
  });

  it('fails on an unknown beta_schedule, listing the allowed ones', () => {
    expect(() => makeNoiseSchedule({ ...sd15, beta_schedule: 'squaredcos_cap_v2' })).toThrow(/squaredcos_cap_v2.*allowed: linear, scaled_linear/);
  });

  it('fails when trained_betas has the wrong length', () => {
    expect(() => makeNoiseSchedule({ ...sd15, trained_betas: [0.1] })).toThrow(/1 values but num_train_timesteps is 1000/);
  });
});

describe('array recipes', () => {
  it.each([
    [0.5, 0], [1.5, 2], [2.5, 2], [-0.5, 0], [2.4999, 2], [2.5001, 3], [-1.5, -2],
  ])('roundHalfToEven(%f) = %f', (x, expected) => {
    // + 0 folds −0 into 0: numpy prints −0 for round(−0.5), which is the same integer.
    expect(roundHalfToEven(x) + 0).toBe(expected);
  });

  it('numpyLinspace ends exactly at stop', () => {
    const values = numpyLinspace(0, 999, 21);
    expect(values[0]).toBe(0);
    expect(values[20]).toBe(999);
    expect(values[10]).toBe(499.5);
  });

  it('numpyArange counts ceil((stop − start)/step) values', () => {
    expect(numpyArange(1000, 0, -1000 / 3)).toHaveLength(3);
    expect(numpyArange(1000, 0, -20)).toHaveLength(50);
    expect(numpyArange(0, 1, 1)).toEqual([0]);
  });

  it('torchLinspaceFloat32 hits both ends', () => {
    const values = torchLinspaceFloat32(0.1, 0.7, 17);
    expect(values[0]).toBe(Math.fround(0.1));
    expect(values[16]).toBe(Math.fround(0.7));
  });
});
