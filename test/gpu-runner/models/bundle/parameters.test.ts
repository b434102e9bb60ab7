import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCLIPTextConfig, readUNetConfig, readVAEConfig } from '../../../../gpu-runner/models/bundle/configs.ts';
import {
  clipTextParameters, parameterCount, unetParameters, vaeParameters, type ParameterSpec,
} from '../../../../gpu-runner/models/bundle/parameters.ts';
import { SD15_TEXT_ENCODER_CONFIG, SD15_UNET_CONFIG, SD15_VAE_CONFIG } from '../../../../gpu-runner/models/bundle/sd-configs.ts';
import { TINY_TEXT_ENCODER_CONFIG, TINY_UNET_CONFIG, TINY_VAE_CONFIG } from '../../../../gpu-runner/models/bundle/sd-configs.ts';
import { buildTextEncoderGraph } from '../../../../gpu-runner/models/clip-text/text-encoder.ts';
import { parseCLIPTextConfig } from '../../../../gpu-runner/models/clip-text/config.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { parseUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { buildVAEDecoderGraph, buildVAEEncoderGraph } from '../../../../gpu-runner/models/vae/vae.ts';
import { parseVAEConfig } from '../../../../gpu-runner/models/vae/config.ts';
import { RecordingRandomWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

interface ReferenceIndex {
  num_parameters: Record<string, number>;
  weights: Record<string, Record<string, { dtype: string; shape: number[] }>>;
}
const index = JSON.parse(readFileSync(join(REFERENCE_CASES_DIR, 'index.json'), 'utf8')) as ReferenceIndex;

function asHeader(table: ParameterSpec[]): Record<string, { dtype: string; shape: number[] }> {
  return Object.fromEntries(table.map((p) => [p.name, { dtype: p.dtype, shape: [...p.shape] }]));
}

describe('parameter tables equal the tensors of the files diffusers/transformers wrote', () => {
  it('UNet2DConditionModel', () => {
    const table = unetParameters(readUNetConfig(join(REFERENCE_MODEL_DIR, 'unet/config.json')));
    expect(asHeader(table)).toEqual(index.weights.unet);
    expect(parameterCount(table)).toBe(index.num_parameters.unet);
  });

  it('AutoencoderKL', () => {
    const table = vaeParameters(readVAEConfig(join(REFERENCE_MODEL_DIR, 'vae/config.json')));
    expect(asHeader(table)).toEqual(index.weights.vae);
    expect(parameterCount(table)).toBe(index.num_parameters.vae);
  });

  it('CLIPTextModel (with the position_ids buffer)', () => {
    const table = clipTextParameters(readCLIPTextConfig(join(REFERENCE_MODEL_DIR, 'text_encoder/config.json')));
    expect(asHeader(table)).toEqual(index.weights.text_encoder);
    expect(parameterCount(table)).toBe(index.num_parameters.text_encoder);
  });
});

describe('SD1.5 scale', () => {
  // Published parameter counts of runwayml/stable-diffusion-v1-5 (diffusers num_parameters()).
  it.each([
    ['unet', () => unetParameters(parseUNetConfig(SD15_UNET_CONFIG)), 859_520_964],
    ['vae', () => vaeParameters(parseVAEConfig(SD15_VAE_CONFIG)), 83_653_863],
    ['text_encoder', () => clipTextParameters(parseCLIPTextConfig(SD15_TEXT_ENCODER_CONFIG)), 123_060_480],
  ])('%s has the published parameter count', (_, table, expected) => {
    expect(parameterCount(table())).toBe(expected);
  });

  it('lists the SD1.5 shapes from reference-algorithms.md §5.1', () => {
    const unet = asHeader(unetParameters(parseUNetConfig(SD15_UNET_CONFIG)));
    expect(unet['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight'].shape).toEqual([320, 320]);
    expect(unet['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'].shape).toEqual([320, 768]);
    expect(unet['up_blocks.1.resnets.2.conv1.weight'].shape).toEqual([1280, 1920, 3, 3]);
    expect(unet['up_blocks.3.resnets.0.conv_shortcut.weight'].shape).toEqual([320, 960, 1, 1]);
    expect(unet['down_blocks.1.resnets.0.conv_shortcut.weight'].shape).toEqual([640, 320, 1, 1]);
    expect(unet['down_blocks.3.downsamplers.0.conv.weight']).toBeUndefined();
  });
});

describe('the graph builders bind exactly the checkpoint tensors (enumerated without data)', () => {
  /** (name, shape) requested by the builders, as a header-like record. */
  function requested(build: (weights: RecordingRandomWeightSource) => void): Record<string, { dtype: string; shape: number[] }> {
    const weights = new RecordingRandomWeightSource(0, { zeros: true });
    build(weights);
    return Object.fromEntries(weights.entries().map(({ name, shape }) => [name, { dtype: 'F32', shape }]));
  }
  const floatsOnly = (table: ParameterSpec[]) => asHeader(table.filter((p) => p.dtype === 'F32'));

  const variantUNet = { ...TINY_UNET_CONFIG, transformer_layers_per_block: [2, 1, 3], use_linear_projection: true, layers_per_block: 2 };
  it.each([['tiny', TINY_UNET_CONFIG], ['SD1.5', SD15_UNET_CONFIG], ['per-block transformer depth, linear projections', variantUNet]])('%s UNet (pseudo-3D, 8 frames)', (_, json) => {
    const config = parseUNetConfig(json);
    const names = requested((w) => buildUNetGraph(config, w, { frames: 8, height: 32, width: 32, initializers: 'discard' }));
    expect(names).toEqual(asHeader(unetParameters(parseUNetConfig(json))));
  });

  it.each([['tiny', TINY_VAE_CONFIG], ['SD1.5', SD15_VAE_CONFIG]])('%s VAE encoder + decoder', (_, json) => {
    const config = parseVAEConfig(json);
    const names = requested((w) => {
      buildVAEEncoderGraph(config, w, { height: 64, width: 64, initializers: 'discard' });
      buildVAEDecoderGraph(config, w, { height: 8, width: 8, initializers: 'discard' });
    });
    expect(names).toEqual(asHeader(vaeParameters(parseVAEConfig(json))));
  });

  it.each([['tiny', TINY_TEXT_ENCODER_CONFIG], ['SD1.5', SD15_TEXT_ENCODER_CONFIG]])('%s text encoder (all but the position_ids buffer)', (_, json) => {
    const names = requested((w) => buildTextEncoderGraph(parseCLIPTextConfig(json), w, { initializers: 'discard' }));
    expect(names).toEqual(floatsOnly(clipTextParameters(parseCLIPTextConfig(json))));
  });
});
