import { describe, expect, it } from 'vitest';
import { DPMSolverMultistepScheduler } from '../../../gpu-runner/schedulers/dpm-solver-multistep.ts';
import { float32Of } from '../../support/safetensors-lite.ts';
import { dummyModel, schedulerReference, schedulerTensors } from './reference-loops.ts';

const sd15 = schedulerReference.sd15_scheduler_config;
const start = (): Float32Array => float32Of(schedulerTensors, 'dummy_sample_deter');

function dpm(overrides: Record<string, unknown> = {}, steps = 20): DPMSolverMultistepScheduler {
  const scheduler = DPMSolverMultistepScheduler.fromConfig({ ...sd15, ...overrides });
  scheduler.setTimesteps(steps);
  return scheduler;
}

/** Runs the dummy-model loop over timesteps[from..to) and returns the sample. */
function runSteps(scheduler: DPMSolverMultistepScheduler, sample: Float32Array, from: number, to: number): Float32Array {
  for (const t of scheduler.timesteps.slice(from, to)) sample = scheduler.step(dummyModel(sample, t), t, sample).prevSample;
  return sample;
}

describe('DPMSolverMultistepScheduler config', () => {
  it('from SD 1.5\'s file: dpmsolver++, order 2, linspace, final σ = 0', () => {
    const scheduler = DPMSolverMultistepScheduler.fromConfig(sd15);
    expect(scheduler.config).toMatchObject({ algorithm_type: 'dpmsolver++', solver_order: 2, solver_type: 'midpoint', timestep_spacing: 'linspace', final_sigmas_type: 'zero', lambda_min_clipped: -Infinity });
  });

  it.each([
    [{ solver_order: 3 }, /solver_order = 3 is not supported; allowed: 1, 2/],
    [{ algorithm_type: 'dpmsolver' }, /algorithm_type = "dpmsolver" is not supported/],
    [{ solver_type: 'heun' }, /solver_type = "heun"/],
    [{ use_karras_sigmas: true }, /use_karras_sigmas/],
    [{ prediction_type: 'sample' }, /prediction_type/],
  ])('fails on an unimplemented option %o, naming the key', (override, message) => {
    expect(() => DPMSolverMultistepScheduler.fromConfig({ ...sd15, ...override })).toThrow(message);
  });
});

describe('DPMSolverMultistepScheduler.step', () => {
  it('throws a message naming setTimesteps when called first', () => {
    expect(() => DPMSolverMultistepScheduler.fromConfig(sd15).step(new Float32Array(1), 999, new Float32Array(1))).toThrow(/setTimesteps/);
  });

  it('fails when a step skips the run\'s next timestep, and after the last step', () => {
    const scheduler = dpm({}, 4);
    const x = new Float32Array(2);
    scheduler.step(x, 999, x);
    expect(() => scheduler.step(x, 500, x)).toThrow(/got timestep 500 but the run's next timestep is 749/);
    for (const t of [749, 500, 250]) scheduler.step(x, t, x);
    expect(() => scheduler.step(x, 250, x)).toThrow(/after the run's last timestep/);
  });

  it('returns exactly the x0 prediction on the last step when the final σ is 0', () => {
    const scheduler = dpm();
    const sample = runSteps(scheduler, start(), 0, 19);
    const { prevSample, predOriginalSample } = scheduler.step(dummyModel(sample, 50), 50, sample);
    expect(prevSample).toEqual(predOriginalSample);
  });

  it('after restartFirstOrder takes a first-order step, the same as a solver_order 1 scheduler', () => {
    const secondOrder = dpm();
    const sample = runSteps(secondOrder, start(), 0, 8);
    const t = secondOrder.timesteps[8];
    const eps = dummyModel(sample, t);
    secondOrder.restartFirstOrder();
    const restarted = secondOrder.step(eps, t, sample).prevSample;
    const firstOrder = dpm({ solver_order: 1 });
    expect(restarted).toEqual(firstOrder.step(eps, t, sample).prevSample);
    // Without the restart the step is second order and differs.
    const uninterrupted = dpm();
    const same = runSteps(uninterrupted, start(), 0, 8);
    expect(uninterrupted.step(eps, t, same).prevSample).not.toEqual(restarted);
  });

  it('setCustomTimesteps with the spaced timesteps reproduces the dpmpp2m_20 trace', () => {
    const custom = DPMSolverMultistepScheduler.fromConfig(sd15);
    custom.setCustomTimesteps(schedulerReference.timesteps.dpmpp2m_20);
    const spaced = dpm();
    expect(Array.from(custom.sigmas)).toEqual(Array.from(spaced.sigmas));
    expect(runSteps(custom, start(), 0, 20)).toEqual(runSteps(spaced, start(), 0, 20));
  });

  it('setCustomTimesteps rejects an unordered list', () => {
    expect(() => DPMSolverMultistepScheduler.fromConfig(sd15).setCustomTimesteps([500, 900])).toThrow(/strictly descending/);
  });

  it('with fewer than 15 steps and final σ_min, lower_order_final makes the last step first order', () => {
    const overrides = { final_sigmas_type: 'sigma_min' };
    const scheduler = dpm(overrides, 10);
    const sample = runSteps(scheduler, start(), 0, 9);
    const t = scheduler.timesteps[9];
    const eps = dummyModel(sample, t);
    const last = scheduler.step(eps, t, sample).prevSample;
    const firstOrder = dpm({ ...overrides, solver_order: 1 }, 10);
    expect(last).toEqual(firstOrder.step(eps, t, sample).prevSample);
    expect(scheduler.sigmas[10]).toBe(scheduler.trainSigmas[0]);
  });

  it('addNoise uses α_σ and σ·α_σ of the run\'s timestep', () => {
    const scheduler = dpm({}, 4);
    const x0 = Float32Array.from([1, -2]);
    const noise = Float32Array.from([0.5, 0.25]);
    const a = scheduler.schedule.alphasCumprod[500];
    const noisy = scheduler.addNoise(x0, noise, 500);
    x0.forEach((x, i) => expect(noisy[i]).toBeCloseTo(Math.sqrt(a) * x + Math.sqrt(1 - a) * noise[i], 5));
    expect(() => scheduler.addNoise(x0, noise, 501)).toThrow(/501 is not in the current run/);
  });
});
