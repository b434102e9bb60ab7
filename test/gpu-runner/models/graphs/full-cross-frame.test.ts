import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readControlNetConfig } from '../../../../gpu-runner/models/bundle/controlnet-folder.ts';
import { buildControlNetGraph } from '../../../../gpu-runner/models/controlnet/controlnet.ts';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { CONTROLNET_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, maxAbsDiff, runModel } from './support.ts';

// Fully cross-frame attention (ControlVideo): all frames' tokens form one attention sequence.
const config = loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
const weights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
const H = 8;
const frameSize = 4 * H * H;

/** One latent frame per seed value. */
function frame(seed: number): Float32Array {
  return Float32Array.from({ length: frameSize }, (_, i) => Math.sin(i * 0.37 + seed));
}

function feeds(frames: Float32Array[]) {
  const sample = new Float32Array(frames.length * frameSize);
  frames.forEach((f, i) => sample.set(f, i * frameSize));
  const context = Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i * 0.7));
  const contexts = new Float32Array(frames.length * context.length);
  frames.forEach((_, i) => contexts.set(context, i * context.length));
  return {
    sample: f32(sample, [frames.length, 4, H, H]),
    timestep: i64(BigInt64Array.of(400n), []),
    encoder_hidden_states: f32(contexts, [frames.length, 77, 32]),
  };
}

const frameOf = (data: Float32Array, i: number) => data.subarray(i * frameSize, (i + 1) * frameSize);

describe('fully cross-frame attention in the UNet', () => {
  const plain = buildUNetGraph(config, weights, { height: H, width: H });

  it('on one frame equals ordinary self-attention', async () => {
    const full = buildUNetGraph(config, weights, { height: H, width: H, frames: 1, fullCrossFrame: true });
    const inputs = feeds([frame(1), frame(2)]);
    const a = await runModel(full, inputs);
    const b = await runModel(plain, inputs);
    expect(maxAbsDiff(a.out_sample.data as Float32Array, b.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });

  it('on identical frames equals ordinary self-attention (each key repeated F times keeps the softmax average)', async () => {
    const full = buildUNetGraph(config, weights, { height: H, width: H, frames: 3, fullCrossFrame: true });
    const a = await runModel(full, feeds([frame(1), frame(1), frame(1)]));
    const b = await runModel(plain, feeds([frame(1)]));
    const reference = b.out_sample.data as Float32Array;
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(frameOf(a.out_sample.data as Float32Array, i), reference)).toBeLessThanOrEqual(1e-5);
  });

  it('on different frames mixes them (a frame\'s output depends on the others), within its group only', async () => {
    const full = buildUNetGraph(config, weights, { height: H, width: H, frames: 2, fullCrossFrame: true });
    const a = await runModel(full, feeds([frame(1), frame(2), frame(3), frame(4)]));
    const b = await runModel(full, feeds([frame(1), frame(5), frame(3), frame(4)]));
    const single = await runModel(plain, feeds([frame(1)]));
    const outA = a.out_sample.data as Float32Array;
    const outB = b.out_sample.data as Float32Array;
    expect(maxAbsDiff(frameOf(outA, 0), single.out_sample.data as Float32Array)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(frameOf(outA, 0), frameOf(outB, 0))).toBeGreaterThan(1e-3); // frame 1 changed -> frame 0 moves
    expect(maxAbsDiff(frameOf(outA, 2), frameOf(outB, 2))).toBe(0); // the second group (frames 2, 3) is untouched
  });

  it('the fused and explicit kernels agree', async () => {
    const inputs = feeds([frame(1), frame(2), frame(3)]);
    const fused = await runModel(buildUNetGraph(config, weights, { height: H, width: H, frames: 3, fullCrossFrame: true, attention: 'fused' }), inputs);
    const explicit = await runModel(buildUNetGraph(config, weights, { height: H, width: H, frames: 3, fullCrossFrame: true, attention: 'explicit' }), inputs);
    expect(maxAbsDiff(fused.out_sample.data as Float32Array, explicit.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });
});

describe('key-frame attention (the hierarchical sampler\'s in-between runs)', () => {
  it('leaves the two key frames as a fully cross-frame pass of those two alone, and lets the others read them', async () => {
    const keyed = buildUNetGraph(config, weights, { height: H, width: H, frames: 4, fullCrossFrame: true, keyFrames: 2 });
    const pair = buildUNetGraph(config, weights, { height: H, width: H, frames: 2, fullCrossFrame: true });
    const a = (await runModel(keyed, feeds([frame(1), frame(2), frame(3), frame(4)]))).out_sample.data as Float32Array;
    const b = (await runModel(pair, feeds([frame(1), frame(2)]))).out_sample.data as Float32Array;
    expect(maxAbsDiff(a.subarray(0, 2 * frameSize), b)).toBeLessThanOrEqual(1e-5);
    // an in-between frame's output changes with the key frames it attends to
    const c = (await runModel(keyed, feeds([frame(5), frame(2), frame(3), frame(4)]))).out_sample.data as Float32Array;
    expect(maxAbsDiff(frameOf(a, 2), frameOf(c, 2))).toBeGreaterThan(1e-4);
    // but not with another in-between frame (keys and values come from the key frames only)
    const d = (await runModel(keyed, feeds([frame(1), frame(2), frame(3), frame(6)]))).out_sample.data as Float32Array;
    expect(maxAbsDiff(frameOf(a, 2), frameOf(d, 2))).toBeLessThanOrEqual(1e-5);
  });
});

describe('fully cross-frame attention in the ControlNet', () => {
  it('on identical frames equals the plain ControlNet', async () => {
    const controlConfig = readControlNetConfig(join(CONTROLNET_DIR, 'config.json'));
    const controlWeights = new SafetensorsWeightSource(join(CONTROLNET_DIR, 'diffusion_pytorch_model.safetensors'));
    const cond = Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => 0.5 + 0.5 * Math.sin(i * 0.01));
    const controlFeeds = (n: number) => {
      const base = feeds(Array.from({ length: n }, () => frame(1)));
      const conds = new Float32Array(n * cond.length);
      for (let i = 0; i < n; i++) conds.set(cond, i * cond.length);
      return { ...base, controlnet_cond: f32(conds, [n, 3, 64, 64]), conditioning_scale: f32(Float32Array.of(1), []) };
    };
    const full = await runModel(buildControlNetGraph(controlConfig, controlWeights, { height: H, width: H, frames: 2, fullCrossFrame: true }), controlFeeds(2));
    const plain = await runModel(buildControlNetGraph(controlConfig, controlWeights, { height: H, width: H }), controlFeeds(1));
    const mid = plain.mid_block_res_sample.data as Float32Array;
    const fullMid = full.mid_block_res_sample.data as Float32Array;
    expect(maxAbsDiff(fullMid.subarray(0, mid.length), mid)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(fullMid.subarray(mid.length), mid)).toBeLessThanOrEqual(1e-5);
  });
});
