import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler } from '../../../gpu-runner/schedulers/ddim-inverse.ts';
import { DDIMScheduler } from '../../../gpu-runner/schedulers/ddim.ts';
import { DPMSolverMultistepScheduler } from '../../../gpu-runner/schedulers/dpm-solver-multistep.ts';
import { REFERENCE_CASES_DIR } from '../../support/paths.ts';
import { float32Of, integersOf, readSafetensorsLite } from '../../support/safetensors-lite.ts';
import { dummyModel, maxAbsDiff, schedulerReference, schedulerTensors, sum } from './reference-loops.ts';

const sd15 = schedulerReference.sd15_scheduler_config;
const SAMPLE_SIZE = 4 * 3 * 8 * 8;
/**
 * Largest allowed |ours − diffusers| anywhere in a trace, relative to the trace's largest value. Both sides run
 * float32 operation by operation, so DDIM (only +, −, ·, /, sqrt: all correctly rounded) is bit-exact. DPM-Solver
 * keeps libm's float32 log/exp versus ours rounded from float64: measured 3.8e-7 at worst, allowed 1e-6.
 */
const RELATIVE_TOLERANCE: Record<string, number> = {
  ddim_50_eta0: 0,
  ddim_inverse_50: 0,
  ddim_inverse_50_set_alpha_to_one: 0,
  dpmpp2m_20: 1e-6,
  dpmpp2m_20_sigma_min: 1e-6,
  dpmpp2m_25: 1e-6,
};

interface Stepper {
  readonly timesteps: readonly number[];
  step(modelOutput: Float32Array, t: number, sample: Float32Array): { prevSample: Float32Array };
}

/** Runs diffusers' test loop and returns every sample (initial, then after each step), like `NAME.trace`. */
function runLoop(scheduler: Stepper): Float32Array[] {
  let sample = float32Of(schedulerTensors, 'dummy_sample_deter');
  const trace = [sample];
  for (const t of scheduler.timesteps) {
    sample = scheduler.step(dummyModel(sample, t), t, sample).prevSample;
    trace.push(sample);
  }
  return trace;
}

/** The worst relative deviation of a trace from the stored one, over all steps. */
function compareTrace(name: string, trace: Float32Array[]): number {
  const expected = float32Of(schedulerTensors, `${name}.trace`);
  expect(trace).toHaveLength(expected.length / SAMPLE_SIZE);
  let worst = 0;
  trace.forEach((sample, k) => {
    const { maxAbs, scale } = maxAbsDiff(sample, expected.subarray(k * SAMPLE_SIZE, (k + 1) * SAMPLE_SIZE));
    worst = Math.max(worst, maxAbs / scale);
  });
  return worst;
}

function dpmWith(overrides: Record<string, unknown>): DPMSolverMultistepScheduler {
  return DPMSolverMultistepScheduler.fromConfig({ ...sd15, algorithm_type: 'dpmsolver++', solver_order: 2, lower_order_final: true, ...overrides });
}

const loops: [string, () => Stepper][] = [
  ['ddim_50_eta0', () => { const s = DDIMScheduler.fromConfig(sd15); s.setTimesteps(50); return s; }],
  ['ddim_inverse_50', () => { const s = DDIMInverseScheduler.fromConfig(sd15); s.setTimesteps(50); return s; }],
  ['ddim_inverse_50_set_alpha_to_one', () => { const s = DDIMInverseScheduler.fromConfig({ ...sd15, set_alpha_to_one: true }); s.setTimesteps(50); return s; }],
  ['dpmpp2m_20', () => { const s = dpmWith({}); s.setTimesteps(20); return s; }],
  ['dpmpp2m_20_sigma_min', () => { const s = dpmWith({ final_sigmas_type: 'sigma_min' }); s.setTimesteps(20); return s; }],
  ['dpmpp2m_25', () => { const s = dpmWith({}); s.setTimesteps(25); return s; }],
];

describe('full loops against diffusers 0.27.2 (dummy model sample·t/(t+1))', () => {
  it.each(loops)('%s: timesteps, every step of the trace, final sum and mean', (name, make) => {
    const scheduler = make();
    const reference = schedulerReference.full_loops[name];
    expect(scheduler.timesteps).toEqual(integersOf(schedulerTensors, `${name}.timesteps`));
    expect(scheduler.timesteps).toEqual(reference.timesteps);
    const trace = runLoop(scheduler);
    expect(compareTrace(name, trace)).toBeLessThanOrEqual(RELATIVE_TOLERANCE[name]);
    const final = trace[trace.length - 1];
    expect(sum(final)).toBeCloseTo(reference.final_sum, 2);
    expect(sum(final) / final.length).toBeCloseTo(reference.final_mean, 5);
  });

  it.each(['dpmpp2m_20', 'dpmpp2m_20_sigma_min', 'dpmpp2m_25'])('%s: sigmas match diffusers', (name) => {
    const scheduler = loops.find(([n]) => n === name)![1]() as DPMSolverMultistepScheduler;
    expect(Array.from(scheduler.sigmas)).toEqual(Array.from(float32Of(schedulerTensors, `${name}.sigmas`)));
  });
});

describe('timesteps', () => {
  const t = schedulerReference.timesteps;
  const bySpacing = schedulerReference.timesteps_by_spacing;

  it('DDIM from the SD config defaults to leading + steps_offset', () => {
    const ddim = DDIMScheduler.fromConfig(sd15);
    ddim.setTimesteps(50);
    expect(ddim.timesteps).toEqual(t.ddim_50);
    ddim.setTimesteps(20);
    expect(ddim.timesteps).toEqual(t.ddim_20);
  });

  it('DPM-Solver from the SD config defaults to linspace with numpy half-to-even rounding', () => {
    const dpm = dpmWith({});
    dpm.setTimesteps(20);
    expect(dpm.timesteps).toEqual(t.dpmpp2m_20);
    expect(dpm.timesteps).toContain(500);
    dpm.setTimesteps(25);
    expect(dpm.timesteps).toEqual(t.dpmpp2m_25);
    expect(dpm.timesteps).toContain(480);
  });

  it('DDIM inversion ascends 1, 21, …, 981', () => {
    const inverse = DDIMInverseScheduler.fromConfig(sd15);
    inverse.setTimesteps(50);
    expect(inverse.timesteps).toEqual(t.ddim_inverse_50);
  });

  it.each(['leading', 'trailing', 'linspace'] as const)('%s spacing for DDIM (50) and DPM-Solver (20)', (spacing) => {
    const ddim = DDIMScheduler.fromConfig({ ...sd15, timestep_spacing: spacing });
    ddim.setTimesteps(50);
    expect(ddim.timesteps).toEqual(bySpacing[`ddim_50_${spacing}`]);
    const dpm = dpmWith({ timestep_spacing: spacing });
    dpm.setTimesteps(20);
    expect(dpm.timesteps).toEqual(bySpacing[`dpmpp2m_20_${spacing}`]);
  });

  it.each([
    ['pipeline_ddim', () => DDIMScheduler.fromConfig(sd15)],
    ['pipeline_dpmpp2m', () => dpmWith({})],
  ] as const)('%s: 4 steps give the pipeline case\'s output.timesteps', (name, make) => {
    const tensors = readSafetensorsLite(resolve(REFERENCE_CASES_DIR, `${name}.safetensors`));
    const scheduler = make();
    scheduler.setTimesteps(4);
    expect(scheduler.timesteps).toEqual(integersOf(tensors, 'output.timesteps'));
  });
});
