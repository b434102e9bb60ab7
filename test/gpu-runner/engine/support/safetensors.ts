import { readFileSync } from 'node:fs';

/** One tensor of a safetensors file, as float32 (F32) or numbers (I64/I32). */
export interface LoadedTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | number[];
}

/** Minimal safetensors reader for the reference cases (F32, I64, I32, U8), independent of the code under test. */
export function readSafetensors(path: string): Record<string, LoadedTensor> {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const out: Record<string, LoadedTensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    const raw = bytes.subarray(base + start, base + end);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let data: Float32Array | number[];
    if (info.dtype === 'F32') data = Float32Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
    else if (info.dtype === 'I64') data = Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    else if (info.dtype === 'U8') data = Array.from(raw);
    else if (info.dtype === 'I32') data = Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getInt32(i * 4, true));
    else throw new Error(`readSafetensors: dtype ${info.dtype} of ${name} is not supported by the test reader.`);
    out[name] = { dtype: info.dtype, shape: info.shape, data };
  }
  return out;
}

/** Largest absolute difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
