/**
 * The two ends of object-centric sampling's decoupled phase (method.md §5) that both editors share: the coarse
 * background branch, and the join of the foreground crop with the background before the joint steps.
 */
import { throwIfCanceled } from '../errors.ts';
import { blendLatents, type Box, feather, pasteLatent } from '../ocs.ts';
import { createJumpSampler, type EditingSampler } from '../sampling.ts';

/**
 * The coarse background: only the `backgroundSteps` of the decoupled phase, on the whole frame, each jumping to the
 * next chosen timestep, ending at the first joint timestep `sampler.timesteps[decoupledSteps]`.
 * @param eps the guided noise prediction of the full-frame graph at editing step `c` for latents `z`
 */
export async function coarseBackground(args: {
  sampler: EditingSampler;
  schedulerConfig: unknown;
  backgroundSteps: readonly number[];
  decoupledSteps: number;
  latent: Float32Array;
  eps: (c: number, z: Float32Array) => Promise<Float32Array>;
  signal?: AbortSignal;
}): Promise<Float32Array> {
  const { sampler, backgroundSteps } = args;
  const jump = createJumpSampler(sampler.kind, args.schedulerConfig, backgroundSteps.map((c) => sampler.timesteps[c]), sampler.timesteps[args.decoupledSteps]);
  let z = args.latent;
  for (let i = 0; i < backgroundSteps.length; i++) {
    throwIfCanceled(args.signal, 'editing');
    z = jump.step(await args.eps(backgroundSteps[i], z), i, z);
  }
  return z;
}

/**
 * The latents the joint phase starts from: the foreground crop pasted into the background, blended with a feathered
 * mask so the seam is soft. The sample changed outside the solver, so its multistep history restarts.
 * @param dims [frames, channels, height, width] of the full latents
 */
export function joinForeground(background: Float32Array, foreground: Float32Array, mask: Float32Array, box: Box, dims: readonly [number, number, number, number], sampler: EditingSampler): Float32Array {
  const [F, C, h, w] = dims;
  const soft = feather(mask, F, h, w, 1);
  const joined = blendLatents(pasteLatent(background, foreground, F, C, h, w, box), background, soft, F, C, h, w);
  sampler.restartFirstOrder();
  return joined;
}
