import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler, inversionStepsForEditing } from '../../../gpu-runner/schedulers/ddim-inverse.ts';
import { DDIMScheduler } from '../../../gpu-runner/schedulers/ddim.ts';
import { DPMSolverMultistepScheduler } from '../../../gpu-runner/schedulers/dpm-solver-multistep.ts';
import { float32Of } from '../../support/safetensors-lite.ts';
import { dummyModel, schedulerReference, schedulerTensors } from './reference-loops.ts';

const sd15 = schedulerReference.sd15_scheduler_config;

describe('DDIMInverseScheduler config', () => {
  it('takes set_alpha_to_one false from SD 1.5, so the first step leaves from ᾱ_0', () => {
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    expect(inverse.initialAlphaCumprod).toBe(schedulerReference.constants.ddim_inverse_initial_alpha_cumprod);
    expect(DDIMInverseScheduler.fromConfig({ ...sd15, set_alpha_to_one: true }).initialAlphaCumprod).toBe(1);
  });

  it('rejects linspace spacing, which diffusers\' inversion lacks', () => {
    expect(() => DDIMInverseScheduler.fromConfig({ ...sd15, timestep_spacing: 'linspace' })).toThrow(/leading.*trailing/s);
  });

  it('throws a message naming setTimesteps when step comes first', () => {
    expect(() => DDIMInverseScheduler.fromConfig(sd15).step(new Float32Array(1), 1, new Float32Array(1))).toThrow(/setTimesteps/);
  });

  it('fails on a timestep outside the run, listing the run', () => {
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    inverse.setTimesteps(4);
    expect(() => inverse.step(new Float32Array(1), 500, new Float32Array(1))).toThrow(/timestep 500.*1, 251, 501, 751/);
  });
});

describe('inversion on the editing timesteps (method.md §4)', () => {
  it('pairs editing step k with inversion step N−1−k at the same timestep, for DPM-Solver\'s 20 steps', () => {
    const dpm = DPMSolverMultistepScheduler.fromConfig(sd15);
    dpm.setTimesteps(20);
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    inverse.setTimestepsForEditing(dpm.timesteps);
    const n = dpm.timesteps.length;
    expect(inverse.steps).toHaveLength(n);
    dpm.timesteps.forEach((t, k) => {
      const paired = inverse.steps[n - 1 - k];
      expect(paired.timestep).toBe(t);
      expect(paired.editingStep).toBe(k);
    });
  });

  it('starts from the clean latent, then steps between consecutive editing timesteps', () => {
    const steps = inversionStepsForEditing([999, 749, 500, 250]);
    expect(steps.map((s) => [s.fromTimestep, s.timestep])).toEqual([[null, 250], [250, 500], [500, 749], [749, 999]]);
    expect(steps.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(steps.map((s) => s.editingStep)).toEqual([3, 2, 1, 0]);
  });

  it('evaluates each step with ᾱ of the source and target timestep (ᾱ_0 for the clean start)', () => {
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    inverse.setTimestepsForEditing([999, 749, 500, 250]);
    const a = inverse.schedule.alphasCumprod;
    const z = Float32Array.from([0.3, -0.8]);
    const eps = Float32Array.from([0.5, 1.1]);
    const check = (from: number, to: number): void => {
      const out = inverse.step(eps, to, z).prevSample;
      z.forEach((x, i) => {
        const x0 = (x - Math.sqrt(1 - a[from]) * eps[i]) / Math.sqrt(a[from]);
        expect(out[i]).toBeCloseTo(Math.sqrt(a[to]) * x0 + Math.sqrt(1 - a[to]) * eps[i], 5);
      });
    };
    check(0, 250);
    check(250, 500);
    check(749, 999);
  });

  it('on DDIM\'s own editing timesteps reproduces diffusers\' ddim_inverse_50 trace exactly', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(50);
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    inverse.setTimestepsForEditing(ddim.timesteps);
    expect(inverse.timesteps).toEqual(schedulerReference.timesteps.ddim_inverse_50);
    let z = float32Of(schedulerTensors, 'dummy_sample_deter');
    for (const t of inverse.timesteps) z = inverse.step(dummyModel(z, t), t, z).prevSample;
    const trace = float32Of(schedulerTensors, 'ddim_inverse_50.trace');
    expect(Array.from(z)).toEqual(Array.from(trace.subarray(50 * 768)));
  });

  it.each([
    [[], /empty/],
    [[500, 500], /strictly descending.*500.*500/],
    [[100, 900], /strictly descending/],
    [[1000, 5], /1000 is not a timestep in 0..999/],
    [[12.5], /12.5 is not a timestep/],
  ])('fails on editing timesteps %j', (timesteps, message) => {
    expect(() => inversionStepsForEditing(timesteps)).toThrow(message);
  });
});
