import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REFERENCE_CASES_DIR } from '../../support/paths.ts';
import { readSafetensorsLite } from '../../support/safetensors-lite.ts';

/** schedulers.json: SD 1.5's scheduler_config, expected timesteps, and the full-loop summaries. */
export interface SchedulerReference {
  readonly sd15_scheduler_config: Record<string, unknown>;
  readonly constants: Record<string, number>;
  readonly timesteps: Record<string, number[]>;
  readonly timesteps_by_spacing: Record<string, number[]>;
  readonly full_loops: Record<string, { num_inference_steps: number; timesteps: number[]; final_sum: number; final_mean: number; sigmas?: number[] }>;
}

export const schedulerReference = JSON.parse(readFileSync(resolve(REFERENCE_CASES_DIR, 'schedulers.json'), 'utf8')) as SchedulerReference;
export const schedulerTensors = readSafetensorsLite(resolve(REFERENCE_CASES_DIR, 'schedulers.safetensors'));

/** diffusers' scheduler-test dummy model: sample · t / (t + 1), with t cast to float32. */
export function dummyModel(sample: Float32Array, timestep: number): Float32Array {
  const t = Math.fround(timestep);
  const divisor = Math.fround(t + 1);
  return sample.map((x) => Math.fround(x * t) / divisor);
}

/** Max |a − b| over the arrays, and the largest |b| (for a relative statement). */
export function maxAbsDiff(actual: Float32Array, expected: Float32Array): { maxAbs: number; scale: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs expected ${expected.length}`);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, scale };
}

/** Sum of the values in float64. */
export function sum(values: Float32Array): number {
  return values.reduce((a, b) => a + b, 0);
}
