import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SafetensorsFile } from '../../../../gpu-runner/models/safetensors.ts';
import { serializeModel, type GraphModel } from '../../../../gpu-runner/graph/index.ts';
import { REFERENCE_CASES_DIR } from '../../../support/paths.ts';

/** A reference case file: `input.*`, `output.*` tensors by name. */
export interface ReferenceCase {
  float(name: string): { data: Float32Array; dims: number[] };
  int64(name: string): { data: BigInt64Array; dims: number[] };
  dtype(name: string): string;
}

export function loadCase(file: string): ReferenceCase {
  const st = SafetensorsFile.open(join(REFERENCE_CASES_DIR, file));
  const dims = (name: string) => [...(st.info(name)?.shape ?? [])];
  return {
    float: (name) => ({ data: st.readFloat32(name), dims: dims(name) }),
    int64: (name) => ({ data: st.readInt64(name), dims: dims(name) }),
    dtype: (name) => String(st.info(name)?.dtype),
  };
}

/** Runs a model (embedded initializers) once on CPU. */
export async function runModel(model: GraphModel, feeds: Record<string, ort.Tensor>, options: ort.InferenceSession.SessionOptions = {}): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(serializeModel(model), options);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

export const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
export const i64 = (data: BigInt64Array, dims: number[]) => new ort.Tensor('int64', data, dims);
