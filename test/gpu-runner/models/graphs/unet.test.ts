import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, loadCase, maxAbsDiff, runModel } from './support.ts';

const unetDir = join(REFERENCE_MODEL_DIR, 'unet');
const config = loadUNetConfig(join(unetDir, 'config.json'));
const weights = new SafetensorsWeightSource(join(unetDir, 'diffusion_pytorch_model.safetensors'));

async function runCase(file: string, attention: 'fused' | 'explicit') {
  const c = loadCase(file);
  const sample = c.float('input.sample');
  const ehs = c.float('input.encoder_hidden_states');
  const floatT = c.dtype('input.timestep') === 'F32';
  const t = floatT ? f32(c.float('input.timestep').data, c.float('input.timestep').dims) : i64(c.int64('input.timestep').data, c.int64('input.timestep').dims);
  const model = buildUNetGraph(config, weights, { attention, timestepDType: floatT ? 'float32' : 'int64' });
  const out = await runModel(model, { sample: f32(sample.data, sample.dims), timestep: t, encoder_hidden_states: f32(ehs.data, ehs.dims) });
  const expected = c.float('output.sample');
  expect(out.out_sample.dims).toEqual(expected.dims);
  return maxAbsDiff(out.out_sample.data as Float32Array, expected.data);
}

describe('UNet2DConditionModel graph vs diffusers', () => {
  it.each([
    ['unet_t_scalar.safetensors', 'fused'],
    ['unet_t_batch.safetensors', 'fused'],
    ['unet_t_float.safetensors', 'fused'],
    ['unet_t_scalar.safetensors', 'explicit'],
  ] as const)('%s (%s attention) matches within 1e-4', async (file, attention) => {
    const err = await runCase(file, attention);
    console.log(`${file} ${attention}: max abs err ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });
});
