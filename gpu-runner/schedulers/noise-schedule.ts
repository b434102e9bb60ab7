import { z } from 'zod';
import { torchLinspaceFloat32 } from './array-compat.ts';

/** The beta schedules this module can build; diffusers' `squaredcos_cap_v2` is not used by SD 1.x. */
export const BETA_SCHEDULES = ['linear', 'scaled_linear'] as const;

/**
 * The noise-schedule keys of a diffusers `scheduler_config.json`. The defaults are diffusers' class defaults
 * (the same for DDIM, DDIM inversion and DPM-Solver); SD 1.x files override all four.
 */
export const noiseScheduleConfigShape = {
  /** @default 1000 */
  num_train_timesteps: z.number().int().positive().default(1000),
  /** @default 0.0001 */
  beta_start: z.number().positive().default(0.0001),
  /** @default 0.02 */
  beta_end: z.number().positive().default(0.02),
  /** @default 'linear'; SD 1.x uses 'scaled_linear'. */
  beta_schedule: z.string().default('linear'),
  /** Explicit betas, one per training timestep; overrides the three keys above. @default null */
  trained_betas: z.array(z.number()).nullable().default(null),
};

/** The parsed noise-schedule keys. */
export interface NoiseScheduleConfig {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: string;
  readonly trained_betas: readonly number[] | null;
}

/** The training noise schedule: `betas[t]` and `alphasCumprod[t]` = ᾱ_t, both float32 like diffusers. */
export interface NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
}

/**
 * Builds betas and ᾱ as diffusers does: betas in float32 (`scaled_linear` = float32 linspace of the square
 * roots, squared), then ᾱ_t = Π_{i≤t}(1 − β_i) with the product accumulated in float64 and stored as float32 at
 * each t (torch's CPU cumprod accumulates float32 input in double).
 * @throws when `beta_schedule` is not one of {@link BETA_SCHEDULES}, or `trained_betas` has the wrong length.
 * @example makeNoiseSchedule({ num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012,
 *   beta_schedule: 'scaled_linear', trained_betas: null }).alphasCumprod[999] // ≈ 0.0046601
 */
export function makeNoiseSchedule(config: NoiseScheduleConfig): NoiseSchedule {
  const n = config.num_train_timesteps;
  const betas = betasFor(config);
  const alphasCumprod = new Float32Array(n);
  let product = 1;
  for (let t = 0; t < n; t++) {
    product *= Math.fround(1 - betas[t]);
    alphasCumprod[t] = product;
  }
  return { numTrainTimesteps: n, betas, alphasCumprod };
}

function betasFor(config: NoiseScheduleConfig): Float32Array {
  const n = config.num_train_timesteps;
  if (config.trained_betas !== null) {
    if (config.trained_betas.length !== n) {
      throw new Error(`trained_betas has ${config.trained_betas.length} values but num_train_timesteps is ${n}; give one beta per training timestep.`);
    }
    return Float32Array.from(config.trained_betas);
  }
  switch (config.beta_schedule) {
    case 'linear':
      return torchLinspaceFloat32(config.beta_start, config.beta_end, n);
    case 'scaled_linear': {
      const roots = torchLinspaceFloat32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n);
      return roots.map((root) => root * root);
    }
    default:
      throw new Error(`beta_schedule '${config.beta_schedule}' is not supported; allowed: ${BETA_SCHEDULES.join(', ')} (or give trained_betas).`);
  }
}
