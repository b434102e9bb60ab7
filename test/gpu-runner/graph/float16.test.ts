import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, toFloat16Compute } from '../../../gpu-runner/graph/index.ts';
import { loadUNetConfig } from '../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../gpu-runner/models/unet/unet.ts';
import { loadVAEConfig } from '../../../gpu-runner/models/vae/config.ts';
import { buildVAEDecoderGraph, buildVAEEncoderGraph } from '../../../gpu-runner/models/vae/vae.ts';
import { SafetensorsWeightSource } from '../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../support/paths.ts';
import { f32, i64, loadCase, maxAbsDiff, runModel } from '../models/graphs/support.ts';

const unetConfig = loadUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json'));
const unetWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
const vaeConfig = loadVAEConfig(join(REFERENCE_MODEL_DIR, 'vae/config.json'));
const vaeWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'vae/diffusion_pytorch_model.safetensors'));

/** max |a - b| / max |b|: fp16 error relative to the output's range. */
function relativeError(a: Float32Array, b: Float32Array): number {
  return maxAbsDiff(a, b) / b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

// Tolerance of float16 compute against the float32 reference, max error relative to the output's range. fp16 has
// an 11-bit significand (relative step 4.9e-4); a UNet or VAE call chains ~100 rounded ops. Measured on the CPU
// provider: UNet 1.4e-3..1.6e-3, VAE 1.6e-3..2.5e-3. The CPU provider runs some float16 ops through inserted
// float32 casts, so on a GPU provider (native fp16 kernels) the error can differ: scripts/device-check.ts checks
// that against its own bound.
const TOLERANCE = 5e-3;

describe('float16 compute (CPU provider) against the float32 reference cases', () => {
  it('leaves float32 islands: norms, softmax and the timestep embedding; weights stored as float16', () => {
    const model = toFloat16Compute(buildUNetGraph(unetConfig, unetWeights, { attention: 'explicit' }));
    const typeOf = new Map(model.initializers.map((i) => [i.name, i.dtype]));
    expect(model.inputs.map((i) => i.dtype)).toEqual(['float32', 'int64', 'float32']);
    expect(model.outputs[0].dtype).toBe('float32');
    expect(typeOf.get('conv_in.weight')).toBe('float16');
    // the timestep MLP's weights are read only in float32
    expect(typeOf.get('time_embedding.linear_1.weight')).toBe('float32');
    for (const norm of model.nodes.filter((n) => n.opType === 'InstanceNormalization' || n.opType === 'Softmax')) {
      expect(norm.outputs[0].endsWith('.fp32')).toBe(true);
    }
  });

  it.each(['unet_t_scalar.safetensors', 'unet_t_batch.safetensors', 'unet_t_float.safetensors'])('UNet %s: fused and explicit attention within the tolerance', async (file) => {
    const c = loadCase(file);
    const sample = c.float('input.sample');
    const ehs = c.float('input.encoder_hidden_states');
    const floatT = c.dtype('input.timestep') === 'F32';
    const t = () => (floatT ? f32(c.float('input.timestep').data, c.float('input.timestep').dims) : i64(c.int64('input.timestep').data, c.int64('input.timestep').dims));
    const expected = c.float('output.sample').data;
    for (const attention of ['fused', 'explicit'] as const) {
      const model = toFloat16Compute(buildUNetGraph(unetConfig, unetWeights, { attention, timestepDType: floatT ? 'float32' : 'int64' }));
      const out = await runModel(model, { sample: f32(sample.data, sample.dims), timestep: t(), encoder_hidden_states: f32(ehs.data, ehs.dims) });
      const err = relativeError(out.out_sample.data as Float32Array, expected);
      console.log(`fp16 UNet ${file} ${attention}: relative max error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOLERANCE);
      expect(err).toBeGreaterThan(0); // it did compute in float16
    }
  });

  it('VAE encoder and decoder within the tolerance', async () => {
    const enc = loadCase('vae_encoder.safetensors');
    const sample = enc.float('input.sample');
    const encoded = await runModel(toFloat16Compute(buildVAEEncoderGraph(vaeConfig, vaeWeights, { height: sample.dims[2], width: sample.dims[3] })), { sample: f32(sample.data, sample.dims) });
    const encErr = relativeError(encoded.latent_dist_mean.data as Float32Array, enc.float('output.latent_dist_mean').data);
    const dec = loadCase('vae_decoder.safetensors');
    const latent = dec.float('input.latent');
    const decoded = await runModel(toFloat16Compute(buildVAEDecoderGraph(vaeConfig, vaeWeights, { height: latent.dims[2], width: latent.dims[3] })), { latent: f32(latent.data, latent.dims) });
    const decErr = relativeError(decoded.sample.data as Float32Array, dec.float('output.sample').data);
    console.log(`fp16 VAE: encoder ${encErr.toExponential(2)}, decoder ${decErr.toExponential(2)}`);
    expect(encErr).toBeLessThanOrEqual(TOLERANCE);
    expect(decErr).toBeLessThanOrEqual(TOLERANCE);
  });

  it('without the float32 islands (norms, softmax, timestep embedding in fp16) the error grows', async () => {
    const c = loadCase('unet_t_scalar.safetensors');
    const sample = c.float('input.sample');
    const ehs = c.float('input.encoder_hidden_states');
    const t = c.int64('input.timestep');
    const everything16 = toFloat16Compute(buildUNetGraph(unetConfig, unetWeights), { keepFloat32: () => false });
    const out = await runModel(everything16, { sample: f32(sample.data, sample.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(ehs.data, ehs.dims) });
    const kept = toFloat16Compute(buildUNetGraph(unetConfig, unetWeights));
    const good = await runModel(kept, { sample: f32(sample.data, sample.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(ehs.data, ehs.dims) });
    const expected = c.float('output.sample').data;
    const bad = relativeError(out.out_sample.data as Float32Array, expected);
    const ok = relativeError(good.out_sample.data as Float32Array, expected);
    console.log(`fp16 UNet without float32 islands: ${bad.toExponential(2)} vs ${ok.toExponential(2)} with them`);
    expect(bad).toBeGreaterThan(1.5 * ok);
  });

  it('keeps Resize scales in float32 and the interface in float32', () => {
    const g = new GraphBuilder({ name: 'r' });
    const x = g.input('x', 'float32', [1, 1, 2, 2]);
    g.output(g.resizeNearest(g.add(x, g.scalar(1)), [1, 1, 2, 2]), 'y', 'float32');
    const model = toFloat16Compute(g.build());
    const resize = model.nodes.find((n) => n.opType === 'Resize')!;
    const scales = model.initializers.find((i) => i.name === resize.inputs[2])!;
    expect(scales.dtype).toBe('float32');
    expect(model.initializers.find((i) => i.dims.length === 0)!.dtype).toBe('float16');
  });
});
