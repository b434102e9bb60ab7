/**
 * ControlVideo's denoising loop (its `models/pipeline_controlvideo.py`, without the interleaved-frame smoother,
 * whose frame-interpolation weights cannot be obtained here): no inversion, generation from noise; each step runs
 * the ControlNet on the [uncond, cond] batch with the control maps, adds its residuals inside the UNet, applies
 * classifier-free guidance and steps the sampler. Both graphs are built with fully cross-frame attention over the
 * F frames of each half of the batch. The graphs come in as runners (style.md habit 7): this module never builds
 * or opens anything.
 */
import { classifierFreeGuidance } from '../../schedulers/guidance.ts';
import { EngineError } from '../errors.ts';
import type { IntTensor, Tensor, UNetRunner } from '../model.ts';
import type { EditingSampler } from '../sampling.ts';
import { CONTROLVIDEO_DEFAULTS } from './defaults.ts';

/** A graph ready to run, by input and output names. */
export type GraphRunner = Pick<UNetRunner, 'run'>;


export interface ControlDenoiseArgs {
  /** The UNet with `controlResiduals` (and `fullCrossFrame`, frames F); the plain UNet when `controlnet` is absent. */
  readonly unet: GraphRunner;
  /** The ControlNet (with `fullCrossFrame`, frames F) and its output names in order; absent: no control. */
  readonly controlnet?: { readonly runner: GraphRunner; readonly outputNames: readonly string[]; readonly inputNames: (output: string) => string };
  readonly sampler: EditingSampler;
  /** Prompt embeddings for the batch [uncond × F, cond × F]: [2F, 77, D]. */
  readonly context: Tensor;
  /** Control maps [F, 3, H, W] in [0, 1] (H = 8h for SD); required with a ControlNet. */
  readonly control?: Tensor;
  /** Initial latents [F, C, h, w] (ControlVideo: the same noise for every frame). */
  readonly latents: Tensor;
  /** Classifier-free guidance scale. @default CONTROLVIDEO_DEFAULTS.guidance (12.5) */
  readonly guidance?: number;
  /** ControlNet residual scale (diffusers' controlnet_conditioning_scale). @default 1 */
  readonly conditioningScale?: number;
}

export interface ControlDenoiseResult {
  /** Latents after the last step [F, C, h, w]. */
  readonly latents: Float32Array;
  /** Latents after each sampler step. */
  readonly latentsPerStep: Float32Array[];
}

/** [x] -> [x, x] along the batch: the model input for the [uncond, cond] halves. */
function doubled(data: Float32Array): Float32Array {
  const out = new Float32Array(2 * data.length);
  out.set(data, 0);
  out.set(data, data.length);
  return out;
}

function floatOutput(outputs: Record<string, Tensor | IntTensor>, name: string): Tensor {
  const value = outputs[name];
  if (!value || !('data' in value)) throw new EngineError('internal', `The graph returned no float output '${name}'.`);
  return value;
}

/**
 * Runs the loop over every timestep of `sampler`.
 * @throws EngineError `internal` when a graph misses an output; Error for inconsistent shapes.
 */
export async function denoiseWithControl(args: ControlDenoiseArgs): Promise<ControlDenoiseResult> {
  const [F, C, h, w] = args.latents.dims;
  if (args.context.dims[0] !== 2 * F) throw new Error(`context has batch ${args.context.dims[0]}; the [uncond, cond] batch of ${F} frames needs ${2 * F}.`);
  if (args.controlnet && (!args.control || args.control.dims[0] !== F)) {
    throw new Error(`a ControlNet needs control maps for each of the ${F} frames; got ${args.control ? args.control.dims[0] : 'none'}.`);
  }
  const guidance = args.guidance ?? CONTROLVIDEO_DEFAULTS.guidance;
  const conditioning = args.control ? { data: doubled(args.control.data), dims: [2 * F, ...args.control.dims.slice(1)] } : undefined;
  let z = args.latents.data;
  const latentsPerStep: Float32Array[] = [];
  for (let k = 0; k < args.sampler.timesteps.length; k++) {
    const feeds: Record<string, Tensor | IntTensor> = {
      sample: { data: doubled(z), dims: [2 * F, C, h, w] },
      timestep: { int64: [args.sampler.timesteps[k]], dims: [] },
      encoder_hidden_states: args.context,
    };
    if (args.controlnet && conditioning) {
      const residuals = await args.controlnet.runner.run({
        ...feeds, controlnet_cond: conditioning, conditioning_scale: { data: Float32Array.of(args.conditioningScale ?? 1), dims: [] },
      });
      for (const name of args.controlnet.outputNames) feeds[args.controlnet.inputNames(name)] = floatOutput(residuals, name);
    }
    const noise = floatOutput(await args.unet.run(feeds), 'out_sample');
    z = args.sampler.step(classifierFreeGuidance(noise.data, guidance), k, z);
    latentsPerStep.push(z);
  }
  return { latents: z, latentsPerStep };
}
