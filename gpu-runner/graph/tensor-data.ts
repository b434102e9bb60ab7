/**
 * Element types our graphs use, with their ONNX TensorProto.DataType codes and byte sizes.
 * (ONNX `onnx.proto`: FLOAT=1, INT32=6, INT64=7, BOOL=9, FLOAT16=10.)
 */
export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

export const ONNX_DATA_TYPE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
});

export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
});

/** Typed array that holds the values of one initializer. */
export type TensorValues = Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half from a float32, round-to-nearest-even (handles subnormals, inf and NaN). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // may carry into the exponent, which is correct
  return sign | h;
}

/** Converts float32 values to IEEE half bit patterns (for fp16 initializers of CUDA graphs). */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

/** Little-endian raw bytes of a typed array, as ONNX `raw_data` wants them (a view, no copy). */
export function rawBytes(values: TensorValues): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Number of elements of a static shape. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
