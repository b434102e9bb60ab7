/**
 * Plain text-to-image sampling from given latents (diffusers' StableDiffusionPipeline loop): the reference the
 * pipeline cases check our graphs, schedulers and guidance against, end to end.
 */
import { classifierFreeGuidance } from '../schedulers/guidance.ts';
import { EngineError } from './errors.ts';
import type { EditModel, IntTensor, Tensor } from './model.ts';
import { createSampler, type SamplerKind } from './sampling.ts';

export interface GenerateArgs {
  readonly model: EditModel;
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** initial latents [B, C, h, w] (already scaled by init_noise_sigma = 1) */
  readonly latents: Tensor;
  readonly sampler: SamplerKind;
  readonly steps: number;
  readonly guidance: number;
}

export interface GenerateResult {
  readonly timesteps: readonly number[];
  /** latents after each scheduler step */
  readonly latentsPerStep: Float32Array[];
  /** VAE decode of final / scaling factor, raw (not clamped) */
  readonly decoded: Tensor;
  /** prompt embeddings [2B, 77, D] ([uncond, cond]) */
  readonly promptEmbeds: Tensor;
}

/** Runs the plain SD sampling loop on the model's 2-D UNet (frames = 1). */
export async function generateFromLatents(args: GenerateArgs): Promise<GenerateResult> {
  const { model } = args;
  const [B, C, h, w] = args.latents.dims;
  const ids = [model.tokenizer.encodeForModel(args.negativePrompt ?? '').ids, model.tokenizer.encodeForModel(args.prompt).ids];
  const embeds = await model.encodeText(ids);
  const D = embeds.dims[2];
  const rows = (i: number) => embeds.data.subarray(i * 77 * D, (i + 1) * 77 * D);
  const context = new Float32Array(2 * B * 77 * D);
  for (let b = 0; b < B; b++) {
    context.set(rows(0), b * 77 * D);
    context.set(rows(1), (B + b) * 77 * D);
  }
  const unet = await model.unet({ key: `plain-f1-${h}x${w}`, frames: 1, height: h, width: w });
  const sampler = createSampler(args.sampler, model.facts.schedulerConfig, args.steps);
  let z = args.latents.data;
  const latentsPerStep: Float32Array[] = [];
  for (let k = 0; k < sampler.timesteps.length; k++) {
    const sample = new Float32Array(2 * z.length);
    sample.set(z, 0);
    sample.set(z, z.length);
    const feeds: Record<string, Tensor | IntTensor> = {
      sample: { data: sample, dims: [2 * B, C, h, w] },
      timestep: { int64: [sampler.timesteps[k]], dims: [] },
      encoder_hidden_states: { data: context, dims: [2 * B, 77, D] },
    };
    const out = (await unet.run(feeds)).out_sample;
    if (!out || !('data' in out)) throw new EngineError('internal', 'The UNet returned no out_sample.');
    z = sampler.step(classifierFreeGuidance(out.data, args.guidance), k, z);
    latentsPerStep.push(z);
  }
  const scale = model.facts.scalingFactor;
  const decoded = await model.decodeLatents({ data: Float32Array.from(z, (v) => v / scale), dims: [B, C, h, w] });
  return { timesteps: sampler.timesteps, latentsPerStep, decoded, promptEmbeds: { data: context, dims: [2 * B, 77, D] } };
}
