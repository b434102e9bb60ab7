import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SafetensorsError, SafetensorsFile, floatToHalf, halfToFloat, writeSafetensors,
} from '../../../../gpu-runner/models/safetensors.ts';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-safetensors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('SafetensorsFile', () => {
  it('reads the reference text encoder header and an int64 buffer', () => {
    const file = SafetensorsFile.open(join(REFERENCE_MODEL_DIR, 'text_encoder/model.safetensors'));
    expect(file.names()).toHaveLength(85);
    expect(file.info('text_model.embeddings.position_embedding.weight')?.shape).toEqual([77, 32]);
    const ids = file.readInt64('text_model.embeddings.position_ids');
    expect([...ids].map(Number)).toEqual(Array.from({ length: 77 }, (_, i) => i));
    expect(file.readFloat32('text_model.final_layer_norm.weight')).toHaveLength(32);
    file.close();
  });

  it('reads 0-dim tensors (the scalar timestep case)', () => {
    const file = SafetensorsFile.open(join(REFERENCE_CASES_DIR, 'unet_t_scalar.safetensors'));
    expect(file.info('input.timestep')?.shape).toEqual([]);
    expect(Number(file.readInt64('input.timestep')[0])).toBe(981);
    file.close();
  });

  it('round-trips F32, I64, F16 and BF16 through the writer', () => {
    const path = join(scratch, 'roundtrip.safetensors');
    const values = [0, 1, -2.5, 0.333251953125, 65504, -1e-3];
    const bf16 = new Uint16Array(values.map((v) => new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16));
    writeSafetensors(path, [
      { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Float32Array(values) },
      { name: 'i64', dtype: 'I64', shape: [3], data: () => new BigInt64Array([1n, -2n, 3n]) },
      { name: 'f16', dtype: 'F16', shape: [6], data: new Uint16Array(values.map(floatToHalf)) },
      { name: 'bf16', dtype: 'BF16', shape: [6], data: bf16 },
    ], { format: 'pt' });
    expect(readFileSync(path).readBigUInt64LE(0) % 8n).toBe(0n);
    const file = SafetensorsFile.open(path);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.readFloat32('f32')]).toEqual([...new Float32Array(values)]);
    expect([...file.readInt64('i64')]).toEqual([1n, -2n, 3n]);
    const f16 = file.readFloat32('f16');
    values.forEach((v, i) => expect(f16[i]).toBeCloseTo(v, v === 65504 ? 0 : 3));
    const b = file.readFloat32('bf16');
    values.forEach((v, i) => expect(Math.abs(b[i] - v)).toBeLessThanOrEqual(Math.abs(v) / 128));
    file.close();
  });

  it('converts half-precision special values', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(1e6)).toBe(0x7c00);
  });

  it('fails on a truncated file, naming the file', () => {
    const path = join(scratch, 'truncated.safetensors');
    copyFileSync(join(REFERENCE_CASES_DIR, 'vae_decoder.safetensors'), path);
    truncateSync(path, 3000);
    expect(() => SafetensorsFile.open(path)).toThrow(SafetensorsError);
    expect(() => SafetensorsFile.open(path)).toThrow(/truncated\.safetensors: truncated file: tensors need 4296 bytes but the file has 3000/);
  });

  it('fails on a header cut short and on non-JSON headers', () => {
    const short = join(scratch, 'short.safetensors');
    writeFileSync(short, Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 0x7b]));
    expect(() => SafetensorsFile.open(short)).toThrow(/short\.safetensors: truncated file: header needs 24 bytes/);
    const garbage = join(scratch, 'garbage.safetensors');
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(4n);
    writeFileSync(garbage, Buffer.concat([header, Buffer.from('nope')]));
    expect(() => SafetensorsFile.open(garbage)).toThrow(/garbage\.safetensors: header is not valid JSON/);
  });

  it('rejects offsets that disagree with the shape', () => {
    const path = join(scratch, 'bad-offsets.safetensors');
    const json = Buffer.from(JSON.stringify({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(path, Buffer.concat([length, json, Buffer.alloc(16)]));
    expect(() => SafetensorsFile.open(path)).toThrow(/tensor 'x' \(F32 \[4\]\) needs 16 bytes but data_offsets span 12/);
  });

  it('refuses to write data whose length disagrees with the shape, leaving no file', () => {
    const path = join(scratch, 'never.safetensors');
    expect(() => writeSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }]))
      .toThrow(/'x': F32 \[3\] needs 12 bytes, got 8/);
    expect(() => readFileSync(path)).toThrow();
  });
});
