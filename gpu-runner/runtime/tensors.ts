/**
 * Tensor helpers between plain typed arrays (what schedulers and the engine use) and onnxruntime
 * tensors. Other layers never import onnxruntime-node; they use these helpers and the `OrtTensor` type.
 */
import * as ort from 'onnxruntime-node';

/** The onnxruntime tensor type, re-exported so other layers need not import onnxruntime-node. */
export type OrtTensor = ort.Tensor;

/** Outputs (or feeds) of one session run, by name. */
export type TensorMap = Record<string, OrtTensor>;

function checkLength(kind: string, length: number, dims: readonly number[]): void {
  const expected = dims.reduce((n, d) => n * d, 1);
  if (length !== expected) {
    throw new Error(`${kind} tensor data has ${length} elements but dims [${dims.join(', ')}] need ${expected}`);
  }
}

/** A float32 tensor over `data` (no copy). */
export function float32Tensor(data: Float32Array, dims: readonly number[]): OrtTensor {
  checkLength('float32', data.length, dims);
  return new ort.Tensor('float32', data, dims);
}

/** An int64 tensor from bigints or safe integers. */
export function int64Tensor(data: BigInt64Array | readonly number[], dims: readonly number[]): OrtTensor {
  const values = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  checkLength('int64', values.length, dims);
  return new ort.Tensor('int64', values, dims);
}

/** The float32 data of a tensor. @throws when the tensor is not float32. */
export function tensorToFloat32(tensor: OrtTensor): Float32Array {
  if (tensor.type !== 'float32') throw new Error(`expected a float32 tensor, got ${tensor.type} [${tensor.dims.join(', ')}]`);
  return tensor.data as Float32Array;
}

/** The int64 data of a tensor. @throws when the tensor is not int64. */
export function tensorToInt64(tensor: OrtTensor): BigInt64Array {
  if (tensor.type !== 'int64') throw new Error(`expected an int64 tensor, got ${tensor.type} [${tensor.dims.join(', ')}]`);
  return tensor.data as BigInt64Array;
}

/** `dtype [d0, d1, ...]`, for logs and error messages (never the data). */
export function describeTensor(tensor: OrtTensor): string {
  return `${tensor.type} [${tensor.dims.join(', ')}]`;
}
