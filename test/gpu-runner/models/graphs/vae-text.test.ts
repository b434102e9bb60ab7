import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTextEncoderGraph } from '../../../../gpu-runner/models/clip-text/text-encoder.ts';
import { loadCLIPTextConfig } from '../../../../gpu-runner/models/clip-text/config.ts';
import { loadVAEConfig } from '../../../../gpu-runner/models/vae/config.ts';
import { buildVAEDecoderGraph, buildVAEEncoderGraph } from '../../../../gpu-runner/models/vae/vae.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, loadCase, maxAbsDiff, runModel } from './support.ts';

const vaeConfig = loadVAEConfig(join(REFERENCE_MODEL_DIR, 'vae/config.json'));
const vaeWeights = {
  current: new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'vae/diffusion_pytorch_model.safetensors')),
  legacy: new SafetensorsWeightSource(join(REFERENCE_CASES_DIR, 'vae_legacy_keys.safetensors')),
};

describe('AutoencoderKL graphs vs diffusers', () => {
  it.each(['current', 'legacy'] as const)('encoder (%s attention names) gives the posterior mean and clamped logvar within 1e-4', async (names) => {
    const c = loadCase('vae_encoder.safetensors');
    const sample = c.float('input.sample');
    const model = buildVAEEncoderGraph(vaeConfig, vaeWeights[names], { height: sample.dims[2], width: sample.dims[3] });
    const out = await runModel(model, { sample: f32(sample.data, sample.dims) });
    const mean = maxAbsDiff(out.latent_dist_mean.data as Float32Array, c.float('output.latent_dist_mean').data);
    const logvar = maxAbsDiff(out.latent_dist_logvar.data as Float32Array, c.float('output.latent_dist_logvar').data);
    console.log(`vae encoder (${names}): mean err ${mean.toExponential(2)}, logvar err ${logvar.toExponential(2)}`);
    expect(out.latent_dist_mean.dims).toEqual(c.float('output.latent_dist_mean').dims);
    expect(mean).toBeLessThanOrEqual(1e-4);
    expect(logvar).toBeLessThanOrEqual(1e-4);
  });

  it.each(['current', 'legacy'] as const)('decoder (%s attention names) matches within 1e-4', async (names) => {
    const c = loadCase('vae_decoder.safetensors');
    const latent = c.float('input.latent');
    const model = buildVAEDecoderGraph(vaeConfig, vaeWeights[names], { height: latent.dims[2], width: latent.dims[3] });
    const out = await runModel(model, { latent: f32(latent.data, latent.dims) });
    const expected = c.float('output.sample');
    expect(out.sample.dims).toEqual(expected.dims);
    const err = maxAbsDiff(out.sample.data as Float32Array, expected.data);
    console.log(`vae decoder (${names}): err ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });
});

describe('CLIPTextModel graph vs transformers', () => {
  it('last_hidden_state matches within 1e-4', async () => {
    const config = loadCLIPTextConfig(join(REFERENCE_MODEL_DIR, 'text_encoder/config.json'));
    const weights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'text_encoder/model.safetensors'));
    const c = loadCase('text_encoder.safetensors');
    const ids = c.int64('input.input_ids');
    const out = await runModel(buildTextEncoderGraph(config, weights), { input_ids: i64(ids.data, ids.dims) });
    const expected = c.float('output.last_hidden_state');
    expect(out.last_hidden_state.dims).toEqual(expected.dims);
    const err = maxAbsDiff(out.last_hidden_state.data as Float32Array, expected.data);
    console.log(`text encoder: err ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });
});
