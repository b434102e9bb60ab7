import { z } from 'zod';
import { numpyArange, numpyLinspace, roundHalfToEven } from './array-compat.ts';
import { missingTimestepsError, requireSameLength, requireStepCount, requireSupported } from './checks.ts';
import { makeNoiseSchedule, noiseScheduleConfigShape, type NoiseSchedule } from './noise-schedule.ts';

/** Timestep spacings of DDIM (diffusers' names; see arXiv:2305.08891 Table 2). */
export const DDIM_TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;

/**
 * `DDIMScheduler` keys of a diffusers `scheduler_config.json`, with the class defaults that `from_config` applies to
 * missing keys (SD 1.5's file names PNDMScheduler and has no `timestep_spacing`, so 'leading' applies). Unknown
 * keys (`_class_name`, `skip_prk_steps`, ...) are dropped.
 */
export const ddimConfigSchema = z.object({
  ...noiseScheduleConfigShape,
  /** Clamp the x0 prediction to ±clip_sample_range. SD sets false. @default true */
  clip_sample: z.boolean().default(true),
  /** The last step's "previous" ᾱ: 1 when true, ᾱ_0 when false (SD). @default true */
  set_alpha_to_one: z.boolean().default(true),
  /** Added to 'leading' timesteps (SD: 1, so 50 steps end at t = 1). @default 0 */
  steps_offset: z.number().int().nonnegative().default(0),
  /** Only 'epsilon' is implemented. @default 'epsilon' */
  prediction_type: z.string().default('epsilon'),
  /** Dynamic thresholding (Imagen); not implemented, must be false. @default false */
  thresholding: z.boolean().default(false),
  /** @default 1 */
  clip_sample_range: z.number().positive().default(1),
  /** @default 'leading' */
  timestep_spacing: z.enum(DDIM_TIMESTEP_SPACINGS).default('leading'),
  /** Not implemented, must be false. @default false */
  rescale_betas_zero_snr: z.boolean().default(false),
});

/** The parsed DDIM configuration; pass it to the constructor as is. */
export type DDIMSchedulerConfig = z.output<typeof ddimConfigSchema>;

/** What one DDIM step returns: x_{t−1} and the x0 prediction it came from. */
export interface DDIMStepOutput {
  readonly prevSample: Float32Array;
  readonly predOriginalSample: Float32Array;
}

/** Options of {@link DDIMScheduler.step}. */
export interface DDIMStepOptions {
  /** η of DDIM eq. 16: 0 is deterministic DDIM, 1 is DDPM-like. @default 0 */
  readonly eta?: number;
  /** Standard normal noise of the sample's shape, required when eta > 0 (draw it from a seeded generator). */
  readonly noise?: Float32Array;
}

const f32 = Math.fround;

/**
 * DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models", arXiv:2010.02502) with the arithmetic of
 * diffusers' DDIMScheduler: float32 per operation, epsilon prediction.
 * @example
 * const scheduler = DDIMScheduler.fromConfig(JSON.parse(schedulerConfigText));
 * scheduler.setTimesteps(50);
 * for (const t of scheduler.timesteps) latents = scheduler.step(unet(latents, t), t, latents).prevSample;
 */
export class DDIMScheduler {
  readonly config: DDIMSchedulerConfig;
  readonly schedule: NoiseSchedule;
  /** ᾱ used for the "previous" timestep of the last step (t_prev < 0). */
  readonly finalAlphaCumprod: number;
  /** The initial latent's standard deviation (pure noise at the first timestep). */
  readonly initNoiseSigma = 1;
  private stepTimesteps: readonly number[] | null = null;
  private numInferenceSteps = 0;

  /** @throws when the config asks for an option this implementation lacks (the message names the key). */
  constructor(config: DDIMSchedulerConfig) {
    requireSupported('prediction_type', config.prediction_type, ['epsilon']);
    requireSupported('thresholding', config.thresholding, [false], 'dynamic thresholding is not implemented');
    requireSupported('rescale_betas_zero_snr', config.rescale_betas_zero_snr, [false], 'zero-SNR rescaling is not implemented');
    this.config = config;
    this.schedule = makeNoiseSchedule(config);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0];
  }

  /** Parses a diffusers `scheduler_config.json` object (any scheduler class) and applies DDIM's defaults. */
  static fromConfig(json: unknown): DDIMScheduler {
    return new DDIMScheduler(ddimConfigSchema.parse(json));
  }

  /** The timesteps of the current run, descending; empty before {@link setTimesteps}. */
  get timesteps(): readonly number[] {
    return this.stepTimesteps ?? [];
  }

  /**
   * Chooses `numInferenceSteps` timesteps with the configured spacing (SD, 50 steps: 981, 961, …, 1).
   * @throws when n is not a whole number in 1..num_train_timesteps.
   */
  setTimesteps(numInferenceSteps: number): void {
    const trainSteps = this.config.num_train_timesteps;
    requireStepCount(numInferenceSteps, trainSteps);
    this.numInferenceSteps = numInferenceSteps;
    this.stepTimesteps = ddimTimesteps(this.config.timestep_spacing, numInferenceSteps, trainSteps, this.config.steps_offset);
  }

  /**
   * One reverse step from `sample` = x_t to x_{t−Δ}, Δ = num_train_timesteps // numInferenceSteps whatever the
   * spacing (as diffusers).
   * @throws when called before {@link setTimesteps}, on a timestep outside 0..T−1, on length mismatch, or when
   * eta > 0 comes without noise.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: DDIMStepOptions = {}): DDIMStepOutput {
    if (this.stepTimesteps === null) throw missingTimestepsError('DDIMScheduler');
    requireSameLength({ sample, modelOutput });
    if (!Number.isInteger(timestep) || timestep < 0 || timestep >= this.config.num_train_timesteps) {
      throw new Error(`DDIMScheduler.step got timestep ${timestep}; use a timestep of the run (${this.stepTimesteps.join(', ')}).`);
    }
    const eta = options.eta ?? 0;
    if (eta > 0 && options.noise === undefined) {
      throw new Error(`DDIMScheduler.step got eta = ${eta} without noise; pass options.noise (standard normal, the sample's length) or use eta 0.`);
    }
    if (options.noise !== undefined) requireSameLength({ sample, noise: options.noise });
    // Paper symbols (arXiv:2010.02502 eq. 12): α_t → alphaProdT (ᾱ in DDPM notation), α_{t−1} → alphaProdPrev,
    // ε_θ(x_t) → modelOutput, σ_t → stdDev, "predicted x0" → x0.
    const alphas = this.schedule.alphasCumprod;
    const prevTimestep = timestep - Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    const alphaProdT = alphas[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? alphas[prevTimestep] : this.finalAlphaCumprod;
    const betaProdT = f32(1 - alphaProdT);
    const betaProdPrev = f32(1 - alphaProdPrev);
    const sqrtBetaProdT = f32(Math.sqrt(betaProdT));
    const sqrtAlphaProdT = f32(Math.sqrt(alphaProdT));
    const sqrtAlphaProdPrev = f32(Math.sqrt(alphaProdPrev));
    // 1. σ_t(η), eq. 16: η·sqrt((1−α_{t−1})/(1−α_t))·sqrt(1−α_t/α_{t−1}).
    const variance = f32(f32(betaProdPrev / betaProdT) * f32(1 - f32(alphaProdT / alphaProdPrev)));
    const stdDev = f32(eta * f32(Math.sqrt(variance)));
    // 2. Coefficient of the "direction pointing to x_t", eq. 12: sqrt(1 − α_{t−1} − σ_t²).
    const directionScale = f32(Math.sqrt(f32(betaProdPrev - f32(stdDev * stdDev))));
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;
    const x0 = new Float32Array(sample.length);
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const eps = modelOutput[i];
      // 3. Predicted x0, eq. 12: (x_t − sqrt(1−α_t)·ε) / sqrt(α_t).
      let predicted = f32(f32(sample[i] - f32(sqrtBetaProdT * eps)) / sqrtAlphaProdT);
      if (predicted > clip) predicted = clip;
      else if (predicted < -clip) predicted = -clip;
      x0[i] = predicted;
      // 4. x_{t−1} = sqrt(α_{t−1})·x0 + sqrt(1−α_{t−1}−σ_t²)·ε (+ σ_t·z), eq. 12.
      let next = f32(f32(sqrtAlphaProdPrev * predicted) + f32(directionScale * eps));
      if (eta > 0 && options.noise !== undefined) next = f32(next + f32(stdDev * options.noise[i]));
      prev[i] = next;
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** Forward diffusion q(x_t | x_0) (DDPM eq. 4): sqrt(ᾱ_t)·x0 + sqrt(1−ᾱ_t)·noise, for one timestep t. */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    requireSameLength({ originalSamples, noise });
    const alphaProd = this.schedule.alphasCumprod[timestep];
    if (alphaProd === undefined) {
      throw new Error(`addNoise timestep = ${timestep} is outside 0..${this.config.num_train_timesteps - 1}.`);
    }
    return forwardDiffuse(originalSamples, noise, f32(Math.sqrt(alphaProd)), f32(Math.sqrt(f32(1 - alphaProd))));
  }
}

/** x_t = a·x0 + b·noise in float32. */
export function forwardDiffuse(originalSamples: Float32Array, noise: Float32Array, signalScale: number, noiseScale: number): Float32Array {
  const out = new Float32Array(originalSamples.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(signalScale * originalSamples[i]) + f32(noiseScale * noise[i]));
  return out;
}

/**
 * DDIM's descending timesteps (diffusers' `set_timesteps`): leading = arange(n)·(T//n) reversed + offset;
 * trailing = round(arange(T, 0, −T/n)) − 1; linspace = round(linspace(0, T−1, n)) reversed (half to even).
 */
export function ddimTimesteps(spacing: (typeof DDIM_TIMESTEP_SPACINGS)[number], n: number, trainSteps: number, stepsOffset: number): number[] {
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(trainSteps / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(trainSteps, 0, -trainSteps / n).map((v) => roundHalfToEven(v) - 1);
    case 'linspace':
      return numpyLinspace(0, trainSteps - 1, n).map(roundHalfToEven).reverse();
  }
}
