import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../../../gpu-runner/graph/index.ts';
import { checkCLIPTextConfigAgainstWeights, detectCLIPTextConfigFromWeights, loadCLIPTextConfig, parseCLIPTextConfig } from '../../../../gpu-runner/models/clip-text/config.ts';
import { checkUNetConfigAgainstWeights, detectUNetConfigFromWeights, loadUNetConfig, parseUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { checkVAEConfigAgainstWeights, detectVAEConfigFromWeights, loadVAEConfig, parseVAEConfig } from '../../../../gpu-runner/models/vae/config.ts';
import { buildVAEDecoderGraph } from '../../../../gpu-runner/models/vae/vae.ts';
import { RecordingRandomWeightSource, SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, loadCase, maxAbsDiff } from './support.ts';

const unetConfigPath = join(REFERENCE_MODEL_DIR, 'unet/config.json');
const unetJson = JSON.parse(readFileSync(unetConfigPath, 'utf8')) as Record<string, unknown>;
const unetWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
const workDir = mkdtempSync(join(tmpdir(), 'graphs-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('configs checked against weight shapes', () => {
  it('accepts the tiny bundle as it is', () => {
    expect(() => checkUNetConfigAgainstWeights(loadUNetConfig(unetConfigPath), unetWeights)).not.toThrow();
    expect(() => checkVAEConfigAgainstWeights(loadVAEConfig(join(REFERENCE_MODEL_DIR, 'vae/config.json')), new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'vae/diffusion_pytorch_model.safetensors')))).not.toThrow();
    expect(() => checkCLIPTextConfigAgainstWeights(loadCLIPTextConfig(join(REFERENCE_MODEL_DIR, 'text_encoder/config.json')), new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'text_encoder/model.safetensors')))).not.toThrow();
  });

  it.each([
    ['cross_attention_dim', { cross_attention_dim: 768 }, /cross_attention_dim = 768 but tensor down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight says 32/],
    ['block_out_channels', { block_out_channels: [32, 128] }, /block_out_channels = \[32,128\] but tensor .*conv1\.weight says \[32,64\]/],
    ['use_linear_projection', { use_linear_projection: true }, /use_linear_projection = true but tensor down_blocks\.0\.attentions\.0\.proj_in\.weight says false/],
    ['layers_per_block', { layers_per_block: 1 }, /layers_per_block = 1 .* says 2/],
    ['down_block_types', { down_block_types: ['DownBlock2D', 'DownBlock2D'] }, /down_block_types = \["DownBlock2D","DownBlock2D"\] .* says \["CrossAttnDownBlock2D","DownBlock2D"\]/],
  ])('fails when %s disagrees with the weights, naming file, tensor, expected and found', (_key, patch, message) => {
    const config = parseUNetConfig({ ...unetJson, ...patch }, unetConfigPath);
    expect(() => checkUNetConfigAgainstWeights(config, unetWeights)).toThrow(message);
    expect(() => checkUNetConfigAgainstWeights(config, unetWeights)).toThrow(unetWeights.origin);
  });

  it('fails on an unsupported UNet block type, naming the config file and the type', () => {
    const config = parseUNetConfig({ ...unetJson, down_block_types: ['CrossAttnDownBlock2D', 'SimpleCrossAttnDownBlock2D'] }, unetConfigPath);
    expect(() => buildUNetGraph(config, unetWeights)).toThrow(/config\.json: down_block_types\[1\] = "SimpleCrossAttnDownBlock2D" is not supported; supported: CrossAttnDownBlock2D, DownBlock2D/);
    const up = parseUNetConfig({ ...unetJson, up_block_types: ['UpBlock2D', 'AttnUpBlock2D'] }, unetConfigPath);
    expect(() => buildUNetGraph(up, unetWeights)).toThrow(/up_block_types\[1\] = "AttnUpBlock2D"/);
    const vae = parseVAEConfig({ ...JSON.parse(readFileSync(join(REFERENCE_MODEL_DIR, 'vae/config.json'), 'utf8')), up_block_types: ['UpDecoderBlock2D', 'AttnUpDecoderBlock2D'] });
    expect(() => buildVAEDecoderGraph(vae, new RecordingRandomWeightSource(1))).toThrow(/"AttnUpDecoderBlock2D" is not supported/);
  });

  it('fails on UNet features this builder does not cover, naming the key', () => {
    expect(() => parseUNetConfig({ ...unetJson, class_embed_type: 'timestep' }, unetConfigPath)).toThrow(/class_embed_type = "timestep" is not supported/);
    expect(() => parseUNetConfig({ ...unetJson, resnet_time_scale_shift: 'scale_shift' }, unetConfigPath)).toThrow(/resnet_time_scale_shift/);
  });
});

describe('detectUNetConfigFromWeights', () => {
  it('reads the tiny UNet structure from the header', () => {
    const { values } = detectUNetConfigFromWeights(unetWeights);
    expect(values).toEqual({
      in_channels: 4, out_channels: 4, conv_in_kernel: 3, conv_out_kernel: 3, block_out_channels: [32, 64], layers_per_block: 2,
      cross_attention_dim: 32, use_linear_projection: false, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'], transformer_layers_per_block: 1,
    });
  });
});

describe('VAE and CLIP text configs against weights', () => {
  const vaeConfigPath = join(REFERENCE_MODEL_DIR, 'vae/config.json');
  const vaeJson = JSON.parse(readFileSync(vaeConfigPath, 'utf8')) as Record<string, unknown>;
  const vaeWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'vae/diffusion_pytorch_model.safetensors'));
  const clipPath = join(REFERENCE_MODEL_DIR, 'text_encoder/config.json');
  const clipJson = JSON.parse(readFileSync(clipPath, 'utf8')) as Record<string, unknown>;
  const clipWeights = new SafetensorsWeightSource(join(REFERENCE_MODEL_DIR, 'text_encoder/model.safetensors'));

  it('detects the tiny VAE and text encoder', () => {
    expect(detectVAEConfigFromWeights(vaeWeights).values).toEqual({ in_channels: 3, out_channels: 3, latent_channels: 4, block_out_channels: [32, 64], layers_per_block: 2 });
    expect(detectCLIPTextConfigFromWeights(clipWeights).values).toEqual({ vocab_size: 49408, hidden_size: 32, max_position_embeddings: 77, intermediate_size: 37, num_hidden_layers: 5 });
  });

  it('fails when the VAE config disagrees, naming key, tensor and both values', () => {
    expect(() => checkVAEConfigAgainstWeights(parseVAEConfig({ ...vaeJson, latent_channels: 8 }), vaeWeights)).toThrow(/latent_channels = 8 but tensor decoder\.conv_in\.weight says 4/);
    expect(() => checkVAEConfigAgainstWeights(parseVAEConfig({ ...vaeJson, layers_per_block: 1 }), vaeWeights)).toThrow(/layers_per_block = 1 .* says 2/);
  });

  it('fails when the text encoder config disagrees', () => {
    expect(() => checkCLIPTextConfigAgainstWeights(parseCLIPTextConfig({ ...clipJson, num_hidden_layers: 12 }), clipWeights)).toThrow(/num_hidden_layers = 12 but tensor text_model\.encoder\.layers\.\*\.mlp\.fc1\.weight says 5/);
    expect(() => checkCLIPTextConfigAgainstWeights(parseCLIPTextConfig({ ...clipJson, hidden_size: 64, num_attention_heads: 4 }), clipWeights)).toThrow(/hidden_size = 64 .* says 32/);
  });
});

describe('building and saving', () => {
  it('requests every weight by its diffusers name and binds all of the checkpoint (zero unmatched names)', () => {
    const recorder = new RecordingRandomWeightSource(3, { zeros: true });
    const model = buildUNetGraph(loadUNetConfig(unetConfigPath), recorder, { initializers: 'discard' });
    expect(recorder.names().sort()).toEqual(unetWeights.names().sort());
    for (const { name, shape } of recorder.entries()) expect(unetWeights.shape(name)).toEqual(shape);
    // discard mode: checkpoint weights carry no data (only small structural constants do)
    const weightInits = model.initializers.filter((i) => unetWeights.has(i.name));
    expect(weightInits.length).toBe(unetWeights.names().length);
    expect(weightInits.every((i) => i.values === undefined)).toBe(true);
  });

  it('fp16 weight storage halves the side file and stays close to the fp32 reference', async () => {
    const path = saveModel(buildUNetGraph(loadUNetConfig(unetConfigPath), unetWeights, { weightStorage: 'float16' }), workDir, 'unet16');
    expect(statSync(`${path}.data`).size).toBeLessThan(2_600_000);
    const session = await ort.InferenceSession.create(path);
    const c = loadCase('unet_t_scalar.safetensors');
    const s = c.float('input.sample'), e = c.float('input.encoder_hidden_states'), t = c.int64('input.timestep');
    const out = await session.run({ sample: f32(s.data, s.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(e.data, e.dims) });
    await session.release();
    const err = maxAbsDiff(out.out_sample.data as Float32Array, c.float('output.sample').data);
    expect(err).toBeGreaterThan(0); // the weights really were rounded
    expect(err).toBeLessThan(2e-2);
  });

  it('a UNet saved with external data runs from its path and matches the reference', async () => {
    const path = saveModel(buildUNetGraph(loadUNetConfig(unetConfigPath), unetWeights), workDir, 'unet');
    expect(statSync(`${path}.data`).size).toBeGreaterThan(4_000_000);
    expect(statSync(path).size).toBeLessThan(1_000_000);
    const session = await ort.InferenceSession.create(path);
    const c = loadCase('unet_t_scalar.safetensors');
    const s = c.float('input.sample'), e = c.float('input.encoder_hidden_states'), t = c.int64('input.timestep');
    const out = await session.run({ sample: f32(s.data, s.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(e.data, e.dims) });
    await session.release();
    expect(maxAbsDiff(out.out_sample.data as Float32Array, c.float('output.sample').data)).toBeLessThanOrEqual(1e-4);
  });
});
