import { readFileSync } from 'node:fs';

/** One tensor read from a .safetensors file; the data is copied out of the file buffer (aligned, owned). */
export interface LiteTensor {
  readonly dtype: 'F32' | 'F64' | 'I64' | 'I32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array;
}

const BYTES_PER_ELEMENT = { F32: 4, F64: 8, I64: 8, I32: 4 } as const;

/**
 * A minimal safetensors reader for tests, until the project's reader lands: an 8-byte little-endian header
 * length, a JSON header `{ name: { dtype, shape, data_offsets: [begin, end] } }`, then the raw data.
 * @throws when the file's dtype is not one of F32, F64, I64, I32, or when offsets disagree with the shape.
 */
export function readSafetensorsLite(path: string): Map<string, LiteTensor> {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, LiteTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES_PER_ELEMENT)) {
      throw new Error(`${path}: tensor ${name} has dtype ${dtype}; this test reader handles F32, F64, I64, I32 only.`);
    }
    const key = dtype as keyof typeof BYTES_PER_ELEMENT;
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES_PER_ELEMENT[key]) {
      throw new Error(`${path}: tensor ${name} spans ${end - begin} bytes but shape [${shape.join(',')}] of ${dtype} needs ${count * BYTES_PER_ELEMENT[key]}.`);
    }
    // Copy so the typed array is aligned regardless of where the tensor sits in the file.
    const bytes = new Uint8Array(file.subarray(dataStart + begin, dataStart + end)).buffer;
    const data = key === 'F32' ? new Float32Array(bytes) : key === 'F64' ? new Float64Array(bytes) : key === 'I64' ? new BigInt64Array(bytes) : new Int32Array(bytes);
    tensors.set(name, { dtype: key, shape, data });
  }
  return tensors;
}

/** The named tensor, or a thrown error listing the names the file has. */
export function tensorOf(tensors: Map<string, LiteTensor>, name: string): LiteTensor {
  const tensor = tensors.get(name);
  if (tensor === undefined) throw new Error(`No tensor named ${name}; the file has: ${[...tensors.keys()].join(', ')}.`);
  return tensor;
}

/** A float tensor's values as a Float32Array. */
export function float32Of(tensors: Map<string, LiteTensor>, name: string): Float32Array {
  const { data, dtype } = tensorOf(tensors, name);
  if (data instanceof Float32Array) return data;
  throw new Error(`Tensor ${name} is ${dtype}, expected F32.`);
}

/** An integer tensor's values as plain numbers (I64 values must fit in a double exactly). */
export function integersOf(tensors: Map<string, LiteTensor>, name: string): number[] {
  const { data, dtype } = tensorOf(tensors, name);
  if (data instanceof BigInt64Array) return Array.from(data, (v) => Number(v));
  if (data instanceof Int32Array) return Array.from(data);
  throw new Error(`Tensor ${name} is ${dtype}, expected an integer dtype.`);
}
