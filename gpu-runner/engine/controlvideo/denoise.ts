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

/** One guided call: the ControlNet (when given) and the UNet on the [uncond, cond] batch at one timestep. */
export interface ControlledCall {
  readonly unet: GraphRunner;
  readonly controlnet?: ControlDenoiseArgs['controlnet'];
  /** [2F, 77, D] */
  readonly context: Tensor;
  /** control maps of the batch, already doubled: [2F, 3, H, W] */
  readonly conditioning?: Tensor;
  /** latents [F, C, h, w] */
  readonly latents: Tensor;
  readonly timestep: number;
  readonly guidance: number;
  readonly conditioningScale: number;
  /** extra feeds of each graph (token-merge destinations, saliency) */
  readonly unetFeeds?: Readonly<Record<string, Tensor | IntTensor>>;
  readonly controlnetFeeds?: Readonly<Record<string, Tensor | IntTensor>>;
}

/**
 * The guided noise prediction of one step [F, C, h, w], and every UNet output (recorded maps, when the graph has any).
 * @throws EngineError `internal` when a graph misses an output.
 */
export async function controlledNoise(call: ControlledCall): Promise<{ eps: Float32Array; outputs: Record<string, Tensor | IntTensor> }> {
  const [F, C, h, w] = call.latents.dims;
  const feeds: Record<string, Tensor | IntTensor> = {
    sample: { data: doubled(call.latents.data), dims: [2 * F, C, h, w] },
    timestep: { int64: [call.timestep], dims: [] },
    encoder_hidden_states: call.context,
  };
  if (call.controlnet && call.conditioning) {
    const residuals = await call.controlnet.runner.run({
      ...feeds, ...call.controlnetFeeds, controlnet_cond: call.conditioning, conditioning_scale: { data: Float32Array.of(call.conditioningScale), dims: [] },
    });
    for (const name of call.controlnet.outputNames) feeds[call.controlnet.inputNames(name)] = floatOutput(residuals, name);
  }
  const outputs = await call.unet.run({ ...feeds, ...call.unetFeeds });
  return { eps: classifierFreeGuidance(floatOutput(outputs, 'out_sample').data, call.guidance), outputs };
}

/** [x] -> [x, x] along the batch, as a tensor: the control maps of the [uncond, cond] halves. */
export function doubledTensor(t: Tensor): Tensor {
  return { data: doubled(t.data), dims: [2 * t.dims[0], ...t.dims.slice(1)] };
}

/**
 * Runs the loop over every timestep of `sampler`.
 * @throws EngineError `internal` when a graph misses an output; Error for inconsistent shapes.
 */
export async function denoiseWithControl(args: ControlDenoiseArgs): Promise<ControlDenoiseResult> {
  const [F] = args.latents.dims;
  if (args.context.dims[0] !== 2 * F) throw new Error(`context has batch ${args.context.dims[0]}; the [uncond, cond] batch of ${F} frames needs ${2 * F}.`);
  if (args.controlnet && (!args.control || args.control.dims[0] !== F)) {
    throw new Error(`a ControlNet needs control maps for each of the ${F} frames; got ${args.control ? args.control.dims[0] : 'none'}.`);
  }
  const guidance = args.guidance ?? CONTROLVIDEO_DEFAULTS.guidance;
  const conditioning = args.control ? doubledTensor(args.control) : undefined;
  let z = args.latents.data;
  const latentsPerStep: Float32Array[] = [];
  for (let k = 0; k < args.sampler.timesteps.length; k++) {
    const { eps } = await controlledNoise({
      unet: args.unet, controlnet: args.controlnet, context: args.context, conditioning, latents: { data: z, dims: args.latents.dims },
      timestep: args.sampler.timesteps[k], guidance, conditioningScale: args.conditioningScale ?? 1,
    });
    z = args.sampler.step(eps, k, z);
    latentsPerStep.push(z);
  }
  return { latents: z, latentsPerStep };
}
