import { z } from 'zod';
import { missingTimestepsError, requireSameLength, requireStepCount, requireSupported } from './checks.ts';
import { ddimTimesteps } from './ddim.ts';
import { makeNoiseSchedule, noiseScheduleConfigShape, type NoiseSchedule } from './noise-schedule.ts';

/** Timestep spacings DDIM inversion accepts (diffusers' DDIMInverseScheduler has no 'linspace'). */
export const DDIM_INVERSE_TIMESTEP_SPACINGS = ['leading', 'trailing'] as const;

/**
 * `DDIMInverseScheduler` keys of a diffusers `scheduler_config.json`, with that class's defaults for missing keys.
 * From SD 1.5's file it takes `set_alpha_to_one: false`, so the first step leaves from ᾱ_0, not from 1.
 */
export const ddimInverseConfigSchema = z.object({
  ...noiseScheduleConfigShape,
  /** Clamp the x0 prediction to ±clip_sample_range. SD sets false. @default true */
  clip_sample: z.boolean().default(true),
  /** ᾱ of the clean start: 1 when true, ᾱ_0 when false (SD). @default true */
  set_alpha_to_one: z.boolean().default(true),
  /** Added to 'leading' timesteps (SD: 1 → 1, 21, …, 981 for 50 steps). @default 0 */
  steps_offset: z.number().int().nonnegative().default(0),
  /** Only 'epsilon' is implemented. @default 'epsilon' */
  prediction_type: z.string().default('epsilon'),
  /** @default 1 */
  clip_sample_range: z.number().positive().default(1),
  /** @default 'leading' */
  timestep_spacing: z.enum(DDIM_INVERSE_TIMESTEP_SPACINGS).default('leading'),
  /** Not implemented, must be false. @default false */
  rescale_betas_zero_snr: z.boolean().default(false),
});

/** The parsed DDIM-inversion configuration; pass it to the constructor as is. */
export type DDIMInverseSchedulerConfig = z.output<typeof ddimInverseConfigSchema>;

/** One step of an inversion run, ascending in noise. */
export interface InversionStep {
  /** Position in the inversion run (0 = the step that leaves the clean latent). */
  readonly index: number;
  /** The noisier timestep the latent arrives at; the UNet is evaluated here (diffusers' convention). */
  readonly timestep: number;
  /** The timestep the latent leaves from; null means the clean latent (ᾱ = initialAlphaCumprod). */
  readonly fromTimestep: number | null;
  /** The editing step (descending run of the same length) at the same timestep: N − 1 − index. */
  readonly editingStep: number;
}

/** What one inversion step returns: the noisier latent and the x0 prediction it came from. */
export interface DDIMInverseStepOutput {
  readonly prevSample: Float32Array;
  readonly predOriginalSample: Float32Array;
}

const f32 = Math.fround;

/**
 * Plans DDIM inversion over the timesteps of an editing run (method.md §4): `editingTimesteps` are the editor's,
 * strictly descending (DPM-Solver 20 steps: 999, 949, …, 50). Inversion step j arrives at editingTimesteps[N−1−j]:
 * first from the clean latent to the smallest editing timestep, then between consecutive editing timesteps, so
 * editing step k reuses what inversion step N−1−k recorded at exactly its timestep.
 * @throws when the list is empty, not strictly descending, or holds a value that is not a whole timestep.
 * @example inversionStepsForEditing([999, 500, 1]).map((s) => s.timestep) // [1, 500, 999]
 */
export function inversionStepsForEditing(editingTimesteps: readonly number[], numTrainTimesteps = 1000): InversionStep[] {
  if (editingTimesteps.length === 0) throw new Error('editingTimesteps is empty; pass the editing scheduler\'s timesteps (descending).');
  editingTimesteps.forEach((t, k) => {
    if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
      throw new Error(`editingTimesteps[${k}] = ${t} is not a timestep in 0..${numTrainTimesteps - 1}.`);
    }
    if (k > 0 && t >= editingTimesteps[k - 1]) {
      throw new Error(`editingTimesteps must be strictly descending, but [${k - 1}] = ${editingTimesteps[k - 1]} and [${k}] = ${t}; pass the editing scheduler's timesteps in their order.`);
    }
  });
  const n = editingTimesteps.length;
  return Array.from({ length: n }, (_, index) => ({
    index,
    timestep: editingTimesteps[n - 1 - index],
    fromTimestep: index === 0 ? null : editingTimesteps[n - index],
    editingStep: n - 1 - index,
  }));
}

/**
 * DDIM inversion (the deterministic DDIM ODE run from x0 towards noise; diffusers' DDIMInverseScheduler and
 * FateZero's `next_clean2noise_step`), float32 per operation, epsilon prediction.
 * @example
 * const inverse = DDIMInverseScheduler.fromConfig(config);
 * inverse.setTimestepsForEditing(dpm.timesteps);
 * for (const t of inverse.timesteps) z = inverse.step(unet(z, t), t, z).prevSample;
 */
export class DDIMInverseScheduler {
  readonly config: DDIMInverseSchedulerConfig;
  readonly schedule: NoiseSchedule;
  /** ᾱ of the clean latent that the first step leaves from. */
  readonly initialAlphaCumprod: number;
  private plan: readonly InversionStep[] | null = null;

  /** @throws when the config asks for an option this implementation lacks (the message names the key). */
  constructor(config: DDIMInverseSchedulerConfig) {
    requireSupported('prediction_type', config.prediction_type, ['epsilon']);
    requireSupported('rescale_betas_zero_snr', config.rescale_betas_zero_snr, [false], 'zero-SNR rescaling is not implemented');
    this.config = config;
    this.schedule = makeNoiseSchedule(config);
    this.initialAlphaCumprod = config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0];
  }

  /** Parses a diffusers `scheduler_config.json` object (any scheduler class) and applies this class's defaults. */
  static fromConfig(json: unknown): DDIMInverseScheduler {
    return new DDIMInverseScheduler(ddimInverseConfigSchema.parse(json));
  }

  /** The timesteps of the current run, ascending; empty before a `setTimesteps*` call. */
  get timesteps(): readonly number[] {
    return (this.plan ?? []).map((s) => s.timestep);
  }

  /** The steps of the current run with their source timestep and editing-step pairing. */
  get steps(): readonly InversionStep[] {
    return this.plan ?? [];
  }

  /**
   * diffusers' schedule: ascending timesteps of the configured spacing (SD, 50: 1, 21, …, 981); each step leaves
   * from min(t − T//n, T − 1), or from the clean latent when that is negative.
   */
  setTimesteps(numInferenceSteps: number): void {
    const trainSteps = this.config.num_train_timesteps;
    requireStepCount(numInferenceSteps, trainSteps);
    const ascending = ddimTimesteps(this.config.timestep_spacing, numInferenceSteps, trainSteps, this.config.steps_offset).reverse();
    const stride = Math.floor(trainSteps / numInferenceSteps);
    this.plan = ascending.map((timestep, index) => {
      const from = Math.min(timestep - stride, trainSteps - 1);
      return { index, timestep, fromTimestep: from >= 0 ? from : null, editingStep: numInferenceSteps - 1 - index };
    });
  }

  /** Inversion on the editing run's own timesteps (strictly descending); see {@link inversionStepsForEditing}. */
  setTimestepsForEditing(editingTimesteps: readonly number[]): void {
    this.plan = inversionStepsForEditing(editingTimesteps, this.config.num_train_timesteps);
  }

  /**
   * One inversion step to `timestep` (a timestep of the current run), with ε = the UNet at that target timestep.
   * @throws when called before a `setTimesteps*` call, when `timestep` is not in the run, or on length mismatch.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): DDIMInverseStepOutput {
    if (this.plan === null) throw missingTimestepsError('DDIMInverseScheduler');
    requireSameLength({ sample, modelOutput });
    const planned = this.plan.find((s) => s.timestep === timestep);
    if (planned === undefined) {
      throw new Error(`DDIMInverseScheduler.step got timestep ${timestep}, which is not in the current run (${this.timesteps.join(', ')}).`);
    }
    // Paper symbols (DDIM, arXiv:2010.02502 eq. 12 run backwards): α_t → alphaFrom (the cleaner end),
    // α_{t+1} → alphaTo, ε_θ(x_t, t+1) → modelOutput.
    const alphas = this.schedule.alphasCumprod;
    const alphaFrom = planned.fromTimestep === null ? this.initialAlphaCumprod : alphas[planned.fromTimestep];
    const alphaTo = alphas[planned.timestep];
    const sqrtBetaFrom = f32(Math.sqrt(f32(1 - alphaFrom)));
    const sqrtAlphaFrom = f32(Math.sqrt(alphaFrom));
    const sqrtAlphaTo = f32(Math.sqrt(alphaTo));
    const sqrtBetaTo = f32(Math.sqrt(f32(1 - alphaTo)));
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;
    const x0 = new Float32Array(sample.length);
    const next = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const eps = modelOutput[i];
      // 1. x0 = (x_t − sqrt(1−α_t)·ε) / sqrt(α_t).
      let predicted = f32(f32(sample[i] - f32(sqrtBetaFrom * eps)) / sqrtAlphaFrom);
      if (predicted > clip) predicted = clip;
      else if (predicted < -clip) predicted = -clip;
      x0[i] = predicted;
      // 2. x_{t+1} = sqrt(α_{t+1})·x0 + sqrt(1−α_{t+1})·ε.
      next[i] = f32(f32(sqrtAlphaTo * predicted) + f32(sqrtBetaTo * eps));
    }
    return { prevSample: next, predOriginalSample: x0 };
  }
}
