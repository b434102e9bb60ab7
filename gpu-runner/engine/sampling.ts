/**
 * The editing sampler behind one small interface, so the pipeline does not care whether it runs DDIM (fatezero)
 * or DPM-Solver++ 2M (optimized, ocd), and the inversion that pairs with it (method.md §3-§4).
 */
import { DDIMInverseScheduler } from '../schedulers/ddim-inverse.ts';
import { DDIMScheduler } from '../schedulers/ddim.ts';
import { DPMSolverMultistepScheduler } from '../schedulers/dpm-solver-multistep.ts';

export type SamplerKind = 'ddim' | 'dpmsolver++';

/** A denoising run over fixed, descending timesteps. */
export interface EditingSampler {
  readonly kind: SamplerKind;
  readonly timesteps: readonly number[];
  /** One step from timesteps[index] with the (guided) noise prediction. */
  step(eps: Float32Array, index: number, sample: Float32Array): Float32Array;
  /** Forget multistep history: the next step is first order (after the sample changed outside the solver). */
  restartFirstOrder(): void;
}

/** The dense editing sampler for `steps` steps. */
export function createSampler(kind: SamplerKind, schedulerConfig: unknown, steps: number): EditingSampler {
  if (kind === 'ddim') {
    const ddim = DDIMScheduler.fromConfig(schedulerConfig);
    ddim.setTimesteps(steps);
    return {
      kind,
      timesteps: ddim.timesteps,
      step: (eps, index, sample) => ddim.step(eps, ddim.timesteps[index], sample).prevSample,
      restartFirstOrder: () => undefined, // DDIM is single-step
    };
  }
  if (kind === 'dpmsolver++') {
    const dpm = DPMSolverMultistepScheduler.fromConfig({ ...(schedulerConfig as object), algorithm_type: 'dpmsolver++', solver_order: 2 });
    dpm.setTimesteps(steps);
    return {
      kind,
      timesteps: dpm.timesteps,
      step: (eps, index, sample) => dpm.step(eps, dpm.timesteps[index], sample).prevSample,
      restartFirstOrder: () => dpm.restartFirstOrder(),
    };
  }
  throw new Error(`Unknown sampler kind '${String(kind)}'; allowed: ddim, dpmsolver++.`);
}

/**
 * A sparse sampler over a subset of a dense run's timesteps that stops at `endTimestep` (the coarse background
 * branch of object-centric sampling). `step(eps, i, x)` moves from subset[i] to subset[i+1] (or endTimestep).
 */
export function createJumpSampler(kind: SamplerKind, schedulerConfig: unknown, subset: readonly number[], endTimestep: number): EditingSampler {
  const timesteps = [...subset, endTimestep];
  if (kind === 'dpmsolver++') {
    const dpm = DPMSolverMultistepScheduler.fromConfig({ ...(schedulerConfig as object), algorithm_type: 'dpmsolver++', solver_order: 2 });
    dpm.setCustomTimesteps(timesteps);
    return {
      kind,
      timesteps: subset,
      step: (eps, index, sample) => dpm.step(eps, timesteps[index], sample).prevSample,
      restartFirstOrder: () => dpm.restartFirstOrder(),
    };
  }
  // DDIM between arbitrary timesteps (eq. 12 of the DDIM paper with eta 0), float32 per operation.
  const ddim = DDIMScheduler.fromConfig(schedulerConfig);
  const alphas = ddim.schedule.alphasCumprod;
  const f32 = Math.fround;
  return {
    kind,
    timesteps: subset,
    step(eps, index, sample) {
      const aT = alphas[timesteps[index]];
      const aNext = alphas[timesteps[index + 1]];
      const sqrtBetaT = f32(Math.sqrt(f32(1 - aT))), sqrtAT = f32(Math.sqrt(aT));
      const sqrtANext = f32(Math.sqrt(aNext)), sqrtBetaNext = f32(Math.sqrt(f32(1 - aNext)));
      const out = new Float32Array(sample.length);
      for (let i = 0; i < sample.length; i++) {
        const x0 = f32(f32(sample[i] - f32(sqrtBetaT * eps[i])) / sqrtAT);
        out[i] = f32(f32(sqrtANext * x0) + f32(sqrtBetaNext * eps[i]));
      }
      return out;
    },
    restartFirstOrder: () => undefined,
  };
}

/** DDIM inversion paired with an editing run: step j arrives at editing timestep N-1-j (method.md §4). */
export interface Inversion {
  /** ascending timesteps; inversion step j arrives at timesteps[j] */
  readonly timesteps: readonly number[];
  step(eps: Float32Array, index: number, sample: Float32Array): Float32Array;
}

/**
 * DDIM inversion for an editing sampler. DDIM editing uses diffusers' own inverse schedule (leading spacing, as
 * FateZero); DPM-Solver editing inverts on its own timesteps ("inversion on the editing timesteps").
 */
export function createInversion(editing: EditingSampler, schedulerConfig: unknown): Inversion {
  const inverse = DDIMInverseScheduler.fromConfig(schedulerConfig);
  if (editing.kind === 'ddim') inverse.setTimesteps(editing.timesteps.length);
  else inverse.setTimestepsForEditing(editing.timesteps);
  const ascending = inverse.timesteps;
  const expected = [...editing.timesteps].reverse();
  if (ascending.some((t, j) => t !== expected[j])) {
    throw new Error(`Inversion timesteps (${ascending.join(', ')}) do not pair with the editing timesteps (${editing.timesteps.join(', ')}); the scheduler config's spacing must match.`);
  }
  return { timesteps: ascending, step: (eps, index, sample) => inverse.step(eps, ascending[index], sample).prevSample };
}
