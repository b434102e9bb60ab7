import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelFolder } from '../../../../gpu-runner/models/bundle/model-folder.ts';
import { SafetensorsFile, writeSafetensors } from '../../../../gpu-runner/models/safetensors.ts';
import { ModelLoadError } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-model-folder-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A writable copy of the reference model folder. */
function copyOfReference(): string {
  const dir = join(scratch, `model-${copies++}`);
  cpSync(REFERENCE_MODEL_DIR, dir, { recursive: true });
  return dir;
}

function editJson(path: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

/** The ModelLoadError message `load` throws (fails the test when it does not throw one). */
function loadError(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelLoadError);
    return (error as Error).message;
  }
  throw new Error('expected a ModelLoadError');
}

describe('loadModelFolder', () => {
  it('loads the reference folder: configs with defaults, weights, tokenizer and scheduler', () => {
    const model = loadModelFolder(REFERENCE_MODEL_DIR);
    expect(model.unet.config.block_out_channels).toEqual([32, 64]);
    expect(model.unet.config.down_block_types).toEqual(['CrossAttnDownBlock2D', 'DownBlock2D']);
    expect(model.vae.config.scaling_factor).toBe(0.18215);
    expect(model.textEncoder.config.hidden_act).toBe('quick_gelu');
    expect(model.scheduler.config).toMatchObject({ beta_schedule: 'scaled_linear', steps_offset: 1, set_alpha_to_one: false });
    expect(model.unet.weightsPath).toBe(join(REFERENCE_MODEL_DIR, 'unet/diffusion_pytorch_model.safetensors'));
    expect(model.tokenizer.mergesPath).toBe(join(REFERENCE_MODEL_DIR, 'tokenizer/merges.txt'));
    expect(model.unet.weights.get('conv_in.bias', [32])).toHaveLength(32);
    model.dispose();
  });

  it('fails on a folder that does not exist', () => {
    expect(loadError(() => loadModelFolder(join(scratch, 'nowhere')))).toMatch(/model folder .*nowhere does not exist/);
  });

  it.each([
    ['model_index.json'], ['unet/config.json'], ['vae/diffusion_pytorch_model.safetensors'], ['tokenizer/merges.txt'],
    ['scheduler/scheduler_config.json'],
  ])('fails naming the missing file %s', (file) => {
    const dir = copyOfReference();
    rmSync(join(dir, file));
    const message = loadError(() => loadModelFolder(dir));
    const folder = join(dir, file.split('/').slice(0, -1).join('/'));
    expect(message.includes(join(dir, file)) || message.startsWith(`${folder}: no auto weight file`)).toBe(true);
  });

  it('fails on a truncated weight file, naming it', () => {
    const dir = copyOfReference();
    const path = join(dir, 'text_encoder/model.safetensors');
    truncateSync(path, 100_000);
    expect(loadError(() => loadModelFolder(dir)))
      .toMatch(new RegExp(`cannot read weights ${path.replaceAll('.', '\\.')}: .*truncated file: tensors need 6480316 bytes but the file has 100000`));
  });

  it('fails on a config that does not fit the weights, naming file, tensor and both shapes', () => {
    const dir = copyOfReference();
    editJson(join(dir, 'unet/config.json'), (json) => { json.cross_attention_dim = 48; });
    expect(loadError(() => loadModelFolder(dir))).toBe(`${join(dir, 'unet/diffusion_pytorch_model.safetensors')}: tensor `
      + "'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight' has shape [32, 32] but the config expects [32, 48] "
      + '(and 11 more problems); check that config.json belongs to these weights');
  });

  it('fails on a weight file that lacks a tensor', () => {
    const dir = copyOfReference();
    const path = join(dir, 'vae/diffusion_pytorch_model.safetensors');
    const file = SafetensorsFile.open(path);
    const kept = file.names().filter((n) => n !== 'decoder.conv_out.weight');
    const entries = kept.map((name) => ({ name, dtype: 'F32' as const, shape: file.info(name)!.shape, data: file.readFloat32(name) }));
    file.close();
    writeSafetensors(path, entries);
    expect(loadError(() => loadModelFolder(dir)))
      .toBe(`${path}: missing tensor 'decoder.conv_out.weight' (expected shape [3, 32, 3, 3]); check that config.json belongs to these weights`);
  });

  it('fails on an unsupported block type, naming the file and the allowed types', () => {
    const dir = copyOfReference();
    editJson(join(dir, 'unet/config.json'), (json) => { json.down_block_types = ['CrossAttnDownBlock3D', 'DownBlock2D']; });
    expect(loadError(() => loadModelFolder(dir))).toBe(`${join(dir, 'unet/config.json')}: invalid config: down_block_types.0: `
      + 'unsupported block type "CrossAttnDownBlock3D"; supported: CrossAttnDownBlock2D, DownBlock2D');
  });

  it('fails on invalid JSON, naming the file', () => {
    const dir = copyOfReference();
    writeFileSync(join(dir, 'vae/config.json'), '{ "block_out_channels": [32, 64');
    expect(loadError(() => loadModelFolder(dir))).toMatch(new RegExp(`^${join(dir, 'vae/config.json').replaceAll('.', '\\.')}: not valid JSON`));
  });

  it('falls back to the half-precision variant under auto, converting to float32', () => {
    const dir = copyOfReference();
    const fp32Path = join(dir, 'text_encoder/model.safetensors');
    const file = SafetensorsFile.open(fp32Path);
    const entries = file.names().filter((n) => file.info(n)!.dtype === 'F32').map((name) => {
      const values = file.readFloat32(name);
      // bfloat16 by truncation is exact to represent in the reader and a valid stand-in for a half variant.
      const halves = new Uint16Array(values.length);
      const bits = new Uint32Array(values.buffer);
      for (let i = 0; i < bits.length; i++) halves[i] = bits[i] >>> 16;
      return { name, dtype: 'BF16' as const, shape: file.info(name)!.shape, data: halves };
    });
    const reference = file.readFloat32('text_model.final_layer_norm.weight');
    file.close();
    writeSafetensors(join(dir, 'text_encoder/model.fp16.safetensors'), entries);
    // An explicit variant applies to every component, as in diffusers.
    expect(loadError(() => loadModelFolder(dir, { variant: 'fp16' }))).toMatch(/unet: no fp16 weight file; looked for diffusion_pytorch_model\.fp16\.safetensors/);
    rmSync(fp32Path);
    const model = loadModelFolder(dir);
    expect(model.textEncoder.weightsPath).toBe(join(dir, 'text_encoder/model.fp16.safetensors'));
    const half = model.textEncoder.weights.get('text_model.final_layer_norm.weight', [32]);
    half.forEach((v, i) => expect(Math.abs(v - reference[i])).toBeLessThanOrEqual(Math.abs(reference[i]) / 128));
    model.dispose();
  });
});
