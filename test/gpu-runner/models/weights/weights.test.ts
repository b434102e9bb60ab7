import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { floatToHalf, writeSafetensors } from '../../../../gpu-runner/models/safetensors.ts';
import {
  ModelLoadError, RecordingRandomWeightSource, SafetensorsWeightSource, findWeightFile, openComponentWeights, parameterInit,
} from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-weights-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function stats(data: Float32Array): { mean: number; std: number } {
  const mean = data.reduce((s, v) => s + v, 0) / data.length;
  const variance = data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length;
  return { mean, std: Math.sqrt(variance) };
}

describe('SafetensorsWeightSource', () => {
  it('ignores the position_ids buffer and serves parameters', () => {
    const weights = openComponentWeights(join(REFERENCE_MODEL_DIR, 'text_encoder'));
    expect(weights.has('text_model.embeddings.position_ids')).toBe(true);
    expect(weights.names()).not.toContain('text_model.embeddings.position_ids');
    expect(weights.names()).toHaveLength(84);
    expect(weights.get('text_model.embeddings.token_embedding.weight', [49408, 32])).toHaveLength(49408 * 32);
  });

  it('maps legacy VAE attention names to the current ones with identical data', () => {
    const legacy = new SafetensorsWeightSource(join(REFERENCE_CASES_DIR, 'vae_legacy_keys.safetensors'));
    const current = openComponentWeights(join(REFERENCE_MODEL_DIR, 'vae'));
    expect(legacy.names().sort()).toEqual(current.names().sort());
    for (const name of ['encoder.mid_block.attentions.0.to_q.weight', 'decoder.mid_block.attentions.0.to_out.0.bias']) {
      const shape = current.shape(name)!;
      expect(legacy.shape(name)).toEqual(shape);
      expect(legacy.get(name, shape)).toEqual(current.get(name, shape));
    }
  });

  it('squeezes 1x1-conv-shaped attention weights to linear shape', () => {
    const path = join(scratch, 'conv-attn.safetensors');
    const data = Float32Array.from({ length: 16 }, (_, i) => i);
    writeSafetensors(path, [{ name: 'encoder.mid_block.attentions.0.query.weight', dtype: 'F32', shape: [4, 4, 1, 1], data }]);
    const weights = new SafetensorsWeightSource(path);
    expect(weights.get('encoder.mid_block.attentions.0.to_q.weight', [4, 4])).toEqual(data);
  });

  it('fails on a missing tensor naming file, tensor and expected shape', () => {
    const weights = openComponentWeights(join(REFERENCE_MODEL_DIR, 'unet'));
    expect(() => weights.get('down_blocks.9.resnets.0.conv1.weight', [32, 32, 3, 3])).toThrow(ModelLoadError);
    expect(() => weights.get('down_blocks.9.resnets.0.conv1.weight', [32, 32, 3, 3]))
      .toThrow(/diffusion_pytorch_model\.safetensors: missing tensor 'down_blocks\.9\.resnets\.0\.conv1\.weight' \(expected shape \[32, 32, 3, 3\]\)/);
  });

  it('fails on a wrong shape naming file, tensor, found and expected shapes', () => {
    const weights = openComponentWeights(join(REFERENCE_MODEL_DIR, 'unet'));
    expect(() => weights.get('conv_in.weight', [64, 4, 3, 3]))
      .toThrow(/diffusion_pytorch_model\.safetensors: tensor 'conv_in\.weight' has shape \[32, 4, 3, 3\] but the config expects \[64, 4, 3, 3\]/);
  });
});

describe('findWeightFile', () => {
  const dir = join(scratch, 'component');
  mkdirSync(dir);
  const fp16Path = join(dir, 'diffusion_pytorch_model.fp16.safetensors');
  writeSafetensors(fp16Path, [{ name: 'w', dtype: 'F16', shape: [2], data: new Uint16Array([floatToHalf(1.5), floatToHalf(-2)]) }]);

  it('falls back to the fp16 variant under auto and reads it as float32', () => {
    expect(findWeightFile(dir)).toBe(fp16Path);
    expect([...openComponentWeights(dir, 'fp16').get('w', [2])]).toEqual([1.5, -2]);
  });

  it('prefers fp32 under auto once present, and honours an explicit variant', () => {
    const fp32Path = join(dir, 'diffusion_pytorch_model.safetensors');
    copyFileSync(fp16Path, fp32Path);
    expect(findWeightFile(dir, 'auto')).toBe(fp32Path);
    expect(findWeightFile(dir, 'fp16')).toBe(fp16Path);
    rmSync(fp32Path);
    expect(() => findWeightFile(dir, 'fp32')).toThrow(/no fp32 weight file; looked for diffusion_pytorch_model\.safetensors, model\.safetensors; found diffusion_pytorch_model\.fp16\.safetensors/);
  });

  it('says to convert when only pickle weights are present', () => {
    const binDir = join(scratch, 'bin-only');
    mkdirSync(binDir);
    writeFileSync(join(binDir, 'pytorch_model.bin'), '');
    expect(() => findWeightFile(binDir)).toThrow(/convert them to safetensors/);
  });
});

describe('RecordingRandomWeightSource', () => {
  it('is deterministic per (seed, name) whatever the request order, and records shapes', () => {
    const a = new RecordingRandomWeightSource(7);
    const b = new RecordingRandomWeightSource(7);
    const x = a.get('conv_in.weight', [32, 4, 3, 3]);
    a.get('conv_in.bias', [32]);
    b.get('conv_in.bias', [32]);
    expect(b.get('conv_in.weight', [32, 4, 3, 3])).toEqual(x);
    expect(new RecordingRandomWeightSource(8).get('conv_in.weight', [32, 4, 3, 3])).not.toEqual(x);
    expect(a.entries()).toEqual([{ name: 'conv_in.weight', shape: [32, 4, 3, 3] }, { name: 'conv_in.bias', shape: [32] }]);
    expect(() => a.get('conv_in.bias', [16])).toThrow(/requested as \[16\] after \[32\]/);
  });

  it.each([
    ['down_blocks.0.resnets.0.conv1.weight', [64, 32, 3, 3], 0, 1 / Math.sqrt(288)],
    ['mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight', [256, 256], 0, 1 / 16],
    ['conv_in.bias', [4096], 0, 0.05],
    ['down_blocks.0.resnets.0.norm1.weight', [4096], 1, 0.1],
    ['text_model.final_layer_norm.bias', [4096], 0, 0.05],
    ['text_model.embeddings.token_embedding.weight', [512, 32], 0, 0.1],
    ['time_embedding.linear_1.weight', [128, 32], 0, 1 / Math.sqrt(32)],
  ])('initialises %s by the reference rule', (name, shape, mean, std) => {
    expect(parameterInit(name, shape)).toEqual({ mean, std });
    const s = stats(new RecordingRandomWeightSource(1).get(name, shape));
    expect(Math.abs(s.mean - mean)).toBeLessThan(4 * std / Math.sqrt(shape.reduce((n, d) => n * d, 1)) + 1e-6);
    expect(s.std / std).toBeGreaterThan(0.93);
    expect(s.std / std).toBeLessThan(1.07);
  });

  it('returns zeros in enumeration mode', () => {
    const source = new RecordingRandomWeightSource(1, { zeros: true });
    expect(source.get('w', [3, 2]).every((v) => v === 0)).toBe(true);
    expect(source.names()).toEqual(['w']);
  });
});

it('SafetensorsWeightSource reports unreadable files as ModelLoadError', () => {
  const path = join(scratch, 'empty.safetensors');
  writeFileSync(path, '');
  expect(() => new SafetensorsWeightSource(path)).toThrow(/cannot read weights .*empty\.safetensors: .*truncated file/);
});
