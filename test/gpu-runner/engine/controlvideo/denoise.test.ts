import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { denoiseWithControl, type GraphRunner } from '../../../../gpu-runner/engine/controlvideo/denoise.ts';
import { sameNoiseForEveryFrame } from '../../../../gpu-runner/engine/controlvideo/noise.ts';
import type { IntTensor, Tensor } from '../../../../gpu-runner/engine/model.ts';
import { createSampler } from '../../../../gpu-runner/engine/sampling.ts';
import { serializeModel, type GraphModel } from '../../../../gpu-runner/graph/index.ts';
import { readControlNetConfig } from '../../../../gpu-runner/models/bundle/controlnet-folder.ts';
import { buildControlNetGraph, controlNetOutputNames, unetResidualInputName } from '../../../../gpu-runner/models/controlnet/controlnet.ts';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { CONTROLNET_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

// ControlVideo's loop on the tiny reference UNet and ControlNet: 2 frames, 8x8 latents, 2 DDIM steps.
const F = 2;
const H = 8;
const sessions: ort.InferenceSession[] = [];
afterAll(async () => {
  for (const session of sessions) await session.release();
});

async function runner(model: GraphModel): Promise<GraphRunner> {
  const session = await ort.InferenceSession.create(serializeModel(model));
  sessions.push(session);
  return {
    async run(feeds) {
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, 'data' in t
        ? new ort.Tensor('float32', t.data, [...t.dims])
        : new ort.Tensor('int64', t.int64 instanceof BigInt64Array ? t.int64 : BigInt64Array.from(t.int64, (v) => BigInt(v)), [...t.dims])]));
      const out = await session.run(ortFeeds);
      return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { data: t.data as Float32Array, dims: [...t.dims] }])) as Record<string, Tensor | IntTensor>;
    },
  };
}

const unetConfig = loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
const unetWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
const controlConfig = readControlNetConfig(join(CONTROLNET_DIR, 'config.json'));
const controlWeights = new SafetensorsWeightSource(join(CONTROLNET_DIR, 'diffusion_pytorch_model.safetensors'));
const schedulerConfig = JSON.parse(readFileSync(join(REFERENCE_MODEL_DIR, 'scheduler/scheduler_config.json'), 'utf8')) as unknown;
const graphOptions = { height: H, width: H, frames: F, fullCrossFrame: true };
const graphs = {
  plainUNet: runner(buildUNetGraph(unetConfig, unetWeights, graphOptions)),
  controlledUNet: runner(buildUNetGraph(unetConfig, unetWeights, { ...graphOptions, controlResiduals: true })),
  controlnet: runner(buildControlNetGraph(controlConfig, controlWeights, graphOptions)),
};

const context: Tensor = { data: Float32Array.from({ length: 2 * F * 77 * 32 }, (_, i) => Math.cos(i * 0.7)), dims: [2 * F, 77, 32] };
/** Two different control maps (a horizontal and a vertical gradient). */
const control: Tensor = {
  data: Float32Array.from({ length: F * 3 * 64 * 64 }, (_, i) => {
    const f = Math.floor(i / (3 * 64 * 64));
    const p = i % (64 * 64);
    return f === 0 ? (p % 64) / 63 : Math.floor(p / 64) / 63;
  }),
  dims: [F, 3, 64, 64],
};

async function generate(options: { seed: number; scale?: number; withControlNet?: boolean }) {
  const latents = { data: sameNoiseForEveryFrame(options.seed, F, [4, H, H]), dims: [F, 4, H, H] };
  const withControlNet = options.withControlNet ?? true;
  return denoiseWithControl({
    unet: await (withControlNet ? graphs.controlledUNet : graphs.plainUNet),
    controlnet: withControlNet
      ? { runner: await graphs.controlnet, outputNames: controlNetOutputNames(controlConfig), inputNames: unetResidualInputName }
      : undefined,
    sampler: createSampler('ddim', schedulerConfig, 2),
    context, control, latents,
    conditioningScale: options.scale,
  });
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('ControlVideo denoising loop', () => {
  it('conditioning_scale 0 equals the loop on the plain UNet', async () => {
    const controlled = await generate({ seed: 3, scale: 0 });
    const plain = await generate({ seed: 3, withControlNet: false });
    expect(controlled.latentsPerStep).toHaveLength(2);
    expect(maxAbsDiff(controlled.latents, plain.latents)).toBeLessThanOrEqual(1e-6);
    const guided = await generate({ seed: 3, scale: 1 });
    expect(maxAbsDiff(guided.latents, plain.latents)).toBeGreaterThan(1e-3);
  });

  it('the same seed gives byte-identical latents; another seed does not', async () => {
    const a = await generate({ seed: 11 });
    const b = await generate({ seed: 11 });
    const c = await generate({ seed: 12 });
    expect(Buffer.from(a.latents.buffer).equals(Buffer.from(b.latents.buffer))).toBe(true);
    expect(Buffer.from(a.latents.buffer).equals(Buffer.from(c.latents.buffer))).toBe(false);
  });

  it('frames start from the same noise and are told apart by their control maps', async () => {
    const noise = sameNoiseForEveryFrame(5, F, [4, H, H]);
    const frame = 4 * H * H;
    expect(maxAbsDiff(noise.subarray(0, frame), noise.subarray(frame))).toBe(0);
    const { latents } = await generate({ seed: 5 });
    expect(maxAbsDiff(latents.subarray(0, frame), latents.subarray(frame))).toBeGreaterThan(1e-3);
  });

  it('rejects a context that is not the [uncond, cond] batch', async () => {
    const run = denoiseWithControl({
      unet: await graphs.plainUNet, sampler: createSampler('ddim', schedulerConfig, 1),
      context: { data: context.data.subarray(0, F * 77 * 32), dims: [F, 77, 32] },
      latents: { data: sameNoiseForEveryFrame(0, F, [4, H, H]), dims: [F, 4, H, H] },
    });
    await expect(run).rejects.toThrow(/needs 4/);
  });
});
