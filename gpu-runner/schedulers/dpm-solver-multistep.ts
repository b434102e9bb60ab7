import { z } from 'zod';
import { numpyArange, numpyLinspace, roundHalfToEven } from './array-compat.ts';
import { missingTimestepsError, requireSameLength, requireStepCount, requireSupported } from './checks.ts';
import { forwardDiffuse } from './ddim.ts';
import { makeNoiseSchedule, noiseScheduleConfigShape, type NoiseSchedule } from './noise-schedule.ts';

/** Timestep spacings of DPM-Solver (diffusers' names). */
export const DPM_TIMESTEP_SPACINGS = ['linspace', 'leading', 'trailing'] as const;
/** Where the last step lands: σ = 0 (returns the x0 prediction; diffusers ≥ 0.26) or σ(ᾱ_0). */
export const DPM_FINAL_SIGMAS_TYPES = ['zero', 'sigma_min'] as const;

/**
 * `DPMSolverMultistepScheduler` keys of a diffusers `scheduler_config.json`, with that class's defaults for
 * missing keys: from SD 1.5's file this gives 'linspace' spacing (steps_offset is then ignored) and
 * final_sigmas_type 'zero'.
 */
export const dpmSolverConfigSchema = z.object({
  ...noiseScheduleConfigShape,
  /** 1 (first order, = DDIM) or 2 (2M). @default 2 */
  solver_order: z.number().int().default(2),
  /** Only 'epsilon' is implemented. @default 'epsilon' */
  prediction_type: z.string().default('epsilon'),
  /** Not implemented, must be false. @default false */
  thresholding: z.boolean().default(false),
  /** Only 'dpmsolver++' (data prediction) is implemented. @default 'dpmsolver++' */
  algorithm_type: z.string().default('dpmsolver++'),
  /** Only 'midpoint' is implemented. @default 'midpoint' */
  solver_type: z.string().default('midpoint'),
  /** First order on the last step (and second order on the one before) when there are fewer than 15 steps. @default true */
  lower_order_final: z.boolean().default(true),
  /** Always take the last step first order. @default false */
  euler_at_final: z.boolean().default(false),
  /** Not implemented, must be false. @default false */
  use_karras_sigmas: z.boolean().default(false),
  /** Not implemented, must be false. @default false */
  use_lu_lambdas: z.boolean().default(false),
  /** @default 'zero' */
  final_sigmas_type: z.enum(DPM_FINAL_SIGMAS_TYPES).default('zero'),
  /** Timesteps whose λ = log(α/σ) is below this are cut from the top of the range. @default -Infinity */
  lambda_min_clipped: z.union([z.number(), z.literal(-Infinity)]).default(-Infinity),
  /** Only null (no learned variance) is meaningful here. @default null */
  variance_type: z.string().nullable().default(null),
  /** @default 'linspace' */
  timestep_spacing: z.enum(DPM_TIMESTEP_SPACINGS).default('linspace'),
  /** Added to 'leading' timesteps only. @default 0 */
  steps_offset: z.number().int().nonnegative().default(0),
  /** Not implemented, must be false. @default false */
  rescale_betas_zero_snr: z.boolean().default(false),
});

/** The parsed DPM-Solver configuration; pass it to the constructor as is. */
export type DPMSolverMultistepConfig = z.output<typeof dpmSolverConfigSchema>;

/** What one DPM-Solver step returns: the next sample and the x0 prediction of this step. */
export interface DPMSolverStepOutput {
  readonly prevSample: Float32Array;
  readonly predOriginalSample: Float32Array;
}

/** α_σ = 1/sqrt(σ²+1) (= sqrt(ᾱ)), s_σ = σ·α_σ (= sqrt(1−ᾱ)) and λ = log α − log s, in float32. */
interface NoiseLevel {
  readonly sigma: number;
  readonly alpha: number;
  readonly scale: number;
  readonly lambda: number;
}

const f32 = Math.fround;

function noiseLevel(sigma: number): NoiseLevel {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const scale = f32(sigma * alpha);
  return { sigma, alpha, scale, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(scale))) };
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", arXiv:2211.01095, Algorithm 2) with the arithmetic of
 * diffusers' DPMSolverMultistepScheduler (algorithm_type 'dpmsolver++', midpoint, epsilon prediction),
 * float32 per operation.
 * @example
 * const dpm = DPMSolverMultistepScheduler.fromConfig(config);
 * dpm.setTimesteps(20);
 * for (const t of dpm.timesteps) latents = dpm.step(guidedEps(latents, t), t, latents).prevSample;
 */
export class DPMSolverMultistepScheduler {
  readonly config: DPMSolverMultistepConfig;
  readonly schedule: NoiseSchedule;
  /** The initial latent's standard deviation. */
  readonly initNoiseSigma = 1;
  /** σ_t = sqrt((1−ᾱ_t)/ᾱ_t) for every training timestep, float32. */
  readonly trainSigmas: Float32Array;
  private run: { timesteps: readonly number[]; sigmas: Float32Array } | null = null;
  private stepIndex: number | null = null;
  /** x0 predictions of the previous and current step (the multistep history). */
  private previousX0: Float32Array | null = null;
  private lowerOrderNums = 0;

  /** @throws when the config asks for an option this implementation lacks (the message names the key). */
  constructor(config: DPMSolverMultistepConfig) {
    requireSupported('solver_order', config.solver_order, [1, 2], 'third order is not implemented');
    requireSupported('algorithm_type', config.algorithm_type, ['dpmsolver++']);
    requireSupported('solver_type', config.solver_type, ['midpoint']);
    requireSupported('prediction_type', config.prediction_type, ['epsilon']);
    requireSupported('thresholding', config.thresholding, [false], 'dynamic thresholding is not implemented');
    requireSupported('use_karras_sigmas', config.use_karras_sigmas, [false]);
    requireSupported('use_lu_lambdas', config.use_lu_lambdas, [false]);
    requireSupported('rescale_betas_zero_snr', config.rescale_betas_zero_snr, [false], 'zero-SNR rescaling is not implemented');
    this.config = config;
    this.schedule = makeNoiseSchedule(config);
    this.trainSigmas = this.schedule.alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
  }

  /** Parses a diffusers `scheduler_config.json` object (any scheduler class) and applies this class's defaults. */
  static fromConfig(json: unknown): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(dpmSolverConfigSchema.parse(json));
  }

  /** The timesteps of the current run, descending; empty before {@link setTimesteps}. */
  get timesteps(): readonly number[] {
    return this.run?.timesteps ?? [];
  }

  /** σ of each timestep of the run plus the final σ (0 or σ(ᾱ_0)), length N + 1; empty before setTimesteps. */
  get sigmas(): Float32Array {
    return this.run?.sigmas ?? new Float32Array(0);
  }

  /**
   * Chooses `numInferenceSteps` timesteps with the configured spacing (SD, 20 steps, 'linspace':
   * 999, 949, …, 549, 500, 450, …, 50) and resets the multistep history.
   * @throws when n is not a whole number in 1..num_train_timesteps.
   */
  setTimesteps(numInferenceSteps: number): void {
    requireStepCount(numInferenceSteps, this.config.num_train_timesteps);
    this.setCustomTimesteps(this.spacedTimesteps(numInferenceSteps));
  }

  /**
   * Runs on given timesteps instead (strictly descending, e.g. a subset of a dense run); σ is taken at each,
   * the final σ per final_sigmas_type, and the multistep history is reset.
   * @throws when the list is empty, not strictly descending, or holds a value outside 0..T−1.
   */
  setCustomTimesteps(timesteps: readonly number[]): void {
    const trainSteps = this.config.num_train_timesteps;
    if (timesteps.length === 0) throw new Error('setCustomTimesteps got an empty list; pass descending timesteps.');
    timesteps.forEach((t, k) => {
      if (!Number.isInteger(t) || t < 0 || t >= trainSteps) throw new Error(`timesteps[${k}] = ${t} is not a timestep in 0..${trainSteps - 1}.`);
      if (k > 0 && t >= timesteps[k - 1]) throw new Error(`timesteps must be strictly descending, but [${k - 1}] = ${timesteps[k - 1]} and [${k}] = ${t}.`);
    });
    const sigmas = new Float32Array(timesteps.length + 1);
    timesteps.forEach((t, k) => (sigmas[k] = this.trainSigmas[t]));
    sigmas[timesteps.length] = this.config.final_sigmas_type === 'zero' ? 0 : this.trainSigmas[0];
    this.run = { timesteps: [...timesteps], sigmas };
    this.stepIndex = null;
    this.restartFirstOrder();
  }

  /**
   * Forgets the multistep history, so the next step is first order. Call it after the sample was changed outside
   * the solver (object-centric blending), since the stored x0 no longer belongs to the sample's trajectory.
   */
  restartFirstOrder(): void {
    this.previousX0 = null;
    this.lowerOrderNums = 0;
  }

  /**
   * One solver step from `timestep` (the run's next timestep; the first call may start anywhere in the run).
   * @throws when called before {@link setTimesteps}, when `timestep` is not the expected one, or on length mismatch.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): DPMSolverStepOutput {
    if (this.run === null) throw missingTimestepsError('DPMSolverMultistepScheduler');
    requireSameLength({ sample, modelOutput });
    const { timesteps, sigmas } = this.run;
    const k = this.resolveStepIndex(timestep);
    const last = k === timesteps.length - 1;
    const fewSteps = timesteps.length < 15;
    const firstOrderFinal = last && (this.config.euler_at_final || (this.config.lower_order_final && fewSteps) || this.config.final_sigmas_type === 'zero');
    // (diffusers' matching "second order on the second-last step" rule changes nothing when order 2 is the maximum.)

    // Paper symbols (arXiv:2211.01095): σ_k → current.sigma, α_k → current.alpha, λ_k → current.lambda,
    // x_θ(x_k, t_k) → x0 (the data prediction), h_k = λ_{k+1} − λ_k.
    const current = noiseLevel(sigmas[k]);
    // 1. Data prediction from ε (eq. 4 rearranged): x0 = (x_k − s_k·ε)/α_k.
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < x0.length; i++) x0[i] = f32(f32(sample[i] - f32(current.scale * modelOutput[i])) / current.alpha);

    let prevSample: Float32Array;
    if (this.config.solver_order === 1 || this.lowerOrderNums < 1 || firstOrderFinal || this.previousX0 === null) {
      prevSample = this.firstOrderUpdate(x0, sample, current, sigmas[k + 1]);
    } else {
      // σ_{k−1} exists: a stored x0 means an earlier step of this run came first.
      prevSample = this.secondOrderUpdate(x0, this.previousX0, sample, noiseLevel(sigmas[k - 1]), current, sigmas[k + 1]);
    }
    this.previousX0 = x0;
    if (this.lowerOrderNums < this.config.solver_order) this.lowerOrderNums += 1;
    this.stepIndex = k + 1;
    return { prevSample, predOriginalSample: x0 };
  }

  /** Forward diffusion at a timestep of the current run: α_σ·x0 + s_σ·noise (diffusers' DPM `add_noise`). */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.run === null) throw missingTimestepsError('DPMSolverMultistepScheduler');
    requireSameLength({ originalSamples, noise });
    const k = this.run.timesteps.indexOf(timestep);
    if (k < 0) throw new Error(`addNoise timestep = ${timestep} is not in the current run (${this.run.timesteps.join(', ')}).`);
    const level = noiseLevel(this.run.sigmas[k]);
    return forwardDiffuse(originalSamples, noise, level.alpha, level.scale);
  }

  /** Algorithm 2, first-order (DPM-Solver++1 = DDIM) update: x_{k+1} = (s_{k+1}/s_k)·x_k − α_{k+1}(e^{−h} − 1)·x0. */
  private firstOrderUpdate(x0: Float32Array, sample: Float32Array, current: NoiseLevel, nextSigma: number): Float32Array {
    // σ_{k+1} = 0: α = 1, λ = +∞, e^{−h} = 0, so the update is exactly x0; skip log(0).
    if (nextSigma === 0) return x0.slice();
    const next = noiseLevel(nextSigma);
    const h = f32(next.lambda - current.lambda);
    const sampleScale = f32(next.scale / current.scale);
    const x0Scale = f32(next.alpha * f32(f32(Math.exp(-h)) - 1));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = f32(f32(sampleScale * sample[i]) - f32(x0Scale * x0[i]));
    return out;
  }

  /**
   * Algorithm 2, second-order multistep (2M, midpoint): r = h_{k−1}/h_k, D0 = x0_k, D1 = (x0_k − x0_{k−1})/r,
   * x_{k+1} = (s_{k+1}/s_k)·x_k − α_{k+1}(e^{−h} − 1)·D0 − ½·α_{k+1}(e^{−h} − 1)·D1.
   */
  private secondOrderUpdate(x0: Float32Array, previousX0: Float32Array, sample: Float32Array, previous: NoiseLevel, current: NoiseLevel, nextSigma: number): Float32Array {
    // Only reachable with σ_{k+1} > 0: with final σ = 0 the last step is always first order.
    const next = noiseLevel(nextSigma);
    const h = f32(next.lambda - current.lambda);
    const hPrevious = f32(current.lambda - previous.lambda);
    const r = f32(hPrevious / h);
    const invR = f32(1 / r);
    const sampleScale = f32(next.scale / current.scale);
    const x0Scale = f32(next.alpha * f32(f32(Math.exp(-h)) - 1));
    const halfX0Scale = f32(0.5 * x0Scale);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const d1 = f32(invR * f32(x0[i] - previousX0[i]));
      out[i] = f32(f32(f32(sampleScale * sample[i]) - f32(x0Scale * x0[i])) - f32(halfX0Scale * d1));
    }
    return out;
  }

  private resolveStepIndex(timestep: number): number {
    const timesteps = this.run?.timesteps ?? [];
    if (this.stepIndex === null) {
      const k = timesteps.indexOf(timestep);
      if (k < 0) throw new Error(`DPMSolverMultistepScheduler.step got timestep ${timestep}, which is not in the current run (${timesteps.join(', ')}).`);
      return k;
    }
    if (this.stepIndex >= timesteps.length) {
      throw new Error(`DPMSolverMultistepScheduler.step was called after the run's last timestep; call setTimesteps again for a new run.`);
    }
    if (timesteps[this.stepIndex] !== timestep) {
      throw new Error(`DPMSolverMultistepScheduler.step got timestep ${timestep} but the run's next timestep is ${timesteps[this.stepIndex]}; steps must follow the run in order.`);
    }
    return this.stepIndex;
  }

  /** diffusers' DPM `set_timesteps` spacing (N + 1 points with the last dropped, so t = 0 is never a step). */
  private spacedTimesteps(n: number): number[] {
    const trainSteps = this.config.num_train_timesteps;
    // λ decreases with t; timesteps whose λ is below lambda_min_clipped are cut from the top.
    const clipped = this.schedule.alphasCumprod.reduce((count, a) => {
      const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
      return lambda < this.config.lambda_min_clipped ? count + 1 : count;
    }, 0);
    const lastTimestep = trainSteps - clipped;
    switch (this.config.timestep_spacing) {
      case 'linspace':
        return numpyLinspace(0, lastTimestep - 1, n + 1).map(roundHalfToEven).reverse().slice(0, n);
      case 'leading': {
        const ratio = Math.floor(lastTimestep / (n + 1));
        return Array.from({ length: n }, (_, i) => (n - i) * ratio + this.config.steps_offset);
      }
      case 'trailing':
        return numpyArange(lastTimestep, 0, -trainSteps / n).map((v) => roundHalfToEven(v) - 1);
    }
  }
}
