import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadUNetConfig, parseUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { serializeModel } from '../../../../gpu-runner/graph/index.ts';
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
  it('use_linear_projection: the same weights as linear projections give the same result', async () => {
    // the checkpoint stores proj_in/proj_out as [C, C, 1, 1]; a linear-projection config reads them as [C, C]
    const linearConfig = parseUNetConfig({ ...config, use_linear_projection: true });
    const c = loadCase('unet_t_scalar.safetensors');
    const s = c.float('input.sample'), e = c.float('input.encoder_hidden_states'), t = c.int64('input.timestep');
    const model = buildUNetGraph(linearConfig, weights);
    expect(model.nodes.filter((n) => n.name.includes('proj_in') && n.opType === 'Conv')).toEqual([]);
    const out = await runModel(model, { sample: f32(s.data, s.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(e.data, e.dims) });
    expect(maxAbsDiff(out.out_sample.data as Float32Array, c.float('output.sample').data)).toBeLessThanOrEqual(1e-4);
  });

  it('attention_head_dim as a per-block list, or num_attention_heads, builds the same graph', () => {
    const bytes = (patch: Record<string, unknown>) => Buffer.from(serializeModel(buildUNetGraph(parseUNetConfig({ ...config, ...patch }), weights)));
    const base = bytes({});
    expect(bytes({ attention_head_dim: [8, 8] }).equals(base)).toBe(true);
    expect(bytes({ attention_head_dim: 3, num_attention_heads: 8 }).equals(base)).toBe(true);
    expect(bytes({ attention_head_dim: [8, 4] }).equals(base)).toBe(false);
  });

  it.each([[16, 24], [9, 13]])('non-square / odd latents %ix%i: skip sizes line up, fused and explicit agree', async (h, w) => {
    const sample = Float32Array.from({ length: 2 * 4 * h * w }, (_, i) => Math.sin(i * 0.3));
    const ehs = Float32Array.from({ length: 2 * 77 * 32 }, (_, i) => Math.cos(i * 0.7));
    const feeds = () => ({ sample: f32(sample, [2, 4, h, w]), timestep: i64(BigInt64Array.from([300n, 20n]), [2]), encoder_hidden_states: f32(ehs, [2, 77, 32]) });
    const a = await runModel(buildUNetGraph(config, weights, { height: h, width: w, attention: 'fused' }), feeds());
    const b = await runModel(buildUNetGraph(config, weights, { height: h, width: w, attention: 'explicit' }), feeds());
    expect(a.out_sample.dims).toEqual([2, 4, h, w]);
    expect(maxAbsDiff(a.out_sample.data as Float32Array, b.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });

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
