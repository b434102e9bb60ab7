/**
 * Safetensors reader and writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the byte after the header),
 * an optional `__metadata__` string map, then the raw little-endian data.
 *
 * The reader opens the header only and reads one tensor at a time, so a 3.4 GB UNet file never sits
 * in memory whole. It validates the header against the file size up front, so a truncated download
 * fails at open with the file name instead of later with garbage.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Element types this project reads and writes. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES_PER_ELEMENT: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
});

/** Dtypes `readFloat32` converts from. */
const FLOAT_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16', 'F64'];

/** Headers larger than this are not real model files (SD1.5's UNet header is ~100 KB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Thrown for unreadable or inconsistent safetensors files; the message names the file. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** One tensor's header entry; `begin`/`end` are absolute byte offsets in the file. */
export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** Number of elements of a shape (1 for a 0-dim scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(BYTES_PER_ELEMENT, value);
}

/**
 * A safetensors file opened for lazy, per-tensor reads. Call `close()` when done.
 *
 * @throws SafetensorsError when the file is shorter than its header says (truncated), the header is
 *   not JSON, a dtype is unknown, or offsets disagree with shapes.
 * @example
 *   const file = SafetensorsFile.open('unet/diffusion_pytorch_model.safetensors');
 *   const w = file.readFloat32('conv_in.weight');
 *   file.close();
 */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly tensors: ReadonlyMap<string, TensorInfo>;
  private fd: number | undefined;

  private constructor(path: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = Object.freeze(metadata);
  }

  /** Opens `path` and parses and validates its header; tensor data is read on demand. */
  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const { tensors, metadata } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The header entry of `name`, or undefined. */
  info(name: string): TensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** The raw little-endian bytes of one tensor (into `target` when given, which must have the exact size). */
  readBytes(name: string, target?: Uint8Array): Uint8Array {
    const info = this.requireInfo(name);
    const bytes = target ?? new Uint8Array(info.end - info.begin);
    if (bytes.length !== info.end - info.begin) {
      throw new SafetensorsError(`${this.path}: tensor '${name}' has ${info.end - info.begin} bytes; the target buffer has ${bytes.length}`);
    }
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.openFd(), bytes, done, bytes.length - done, info.begin + done);
      if (n === 0) throw new SafetensorsError(`${this.path}: unexpected end of file while reading tensor '${name}' (file truncated after open?)`);
      done += n;
    }
    return bytes;
  }

  /** One tensor as float32, converted from F32, F16, BF16 or F64. */
  readFloat32(name: string): Float32Array {
    const info = this.requireInfo(name);
    if (!FLOAT_DTYPES.includes(info.dtype)) {
      throw new SafetensorsError(`${this.path}: tensor '${name}' has dtype ${info.dtype}; expected one of ${FLOAT_DTYPES.join(', ')} to read as float32`);
    }
    if (info.dtype === 'F32') {
      // Read straight into the result: no second copy of large tensors (builder peak memory).
      const out = new Float32Array((info.end - info.begin) / 4);
      this.readBytes(name, new Uint8Array(out.buffer));
      return out;
    }
    return toFloat32(info.dtype, this.readBytes(name));
  }

  /** One tensor as int64 (I64 as is; I32 widened). */
  readInt64(name: string): BigInt64Array {
    const info = this.requireInfo(name);
    const bytes = this.readBytes(name);
    if (info.dtype === 'I64') return new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    if (info.dtype === 'I32') return BigInt64Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), (v) => BigInt(v));
    throw new SafetensorsError(`${this.path}: tensor '${name}' has dtype ${info.dtype}; expected I64 or I32 to read as int64`);
  }

  /** Releases the file handle. Reading afterwards throws. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private requireInfo(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.path}: no tensor named '${name}' (the file has ${this.tensors.size} tensors)`);
    return info;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new SafetensorsError(`${this.path}: file already closed`);
    return this.fd;
  }
}

function readExactly(path: string, fd: number, length: number, position: number, what: string): Buffer {
  const buffer = Buffer.alloc(length);
  const n = readSync(fd, buffer, 0, length, position);
  if (n !== length) throw new SafetensorsError(`${path}: truncated file: could not read the ${what} (${n} of ${length} bytes)`);
  return buffer;
}

function parseHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) throw new SafetensorsError(`${path}: truncated file: ${fileSize} bytes, a safetensors file starts with an 8-byte header length`);
  const headerLength = Number(readExactly(path, fd, 8, 0, 'header length').readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`${path}: header length ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}; not a safetensors file?`);
  }
  if (8 + headerLength > fileSize) {
    throw new SafetensorsError(`${path}: truncated file: header needs ${8 + headerLength} bytes but the file has ${fileSize}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(readExactly(path, fd, headerLength, 8, 'header').toString('utf8'));
  } catch (error) {
    throw new SafetensorsError(`${path}: header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`${path}: header must be a JSON object of tensor entries`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  let dataEnd = 0;
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(dtype)) {
      throw new SafetensorsError(`${path}: tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(BYTES_PER_ELEMENT).join(', ')}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${path}: tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      throw new SafetensorsError(`${path}: tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expectedBytes = elementCount(shape) * BYTES_PER_ELEMENT[dtype];
    if (end - begin !== expectedBytes) {
      throw new SafetensorsError(`${path}: tensor '${name}' (${dtype} ${JSON.stringify(shape)}) needs ${expectedBytes} bytes but data_offsets span ${end - begin}`);
    }
    dataEnd = Math.max(dataEnd, end);
    tensors.set(name, { dtype, shape, begin: dataStart + begin, end: dataStart + end });
  }
  if (dataEnd > dataLength) {
    throw new SafetensorsError(`${path}: truncated file: tensors need ${dataStart + dataEnd} bytes but the file has ${fileSize} (re-download or regenerate it)`);
  }
  return { tensors, metadata };
}

/** Converts little-endian float bytes of `dtype` to a new Float32Array. */
export function toFloat32(dtype: SafetensorsDType, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      // Copy so the result is aligned and owned by the caller.
      const out = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case 'F64':
      return Float32Array.from({ length: bytes.byteLength / 8 }, (_, i) => view.getFloat64(i * 8, true));
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(bytes.byteLength / 2);
      for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new SafetensorsError(`cannot convert dtype ${dtype} to float32; expected one of ${FLOAT_DTYPES.join(', ')}`);
  }
}

/** IEEE 754 half (binary16) bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A number to IEEE 754 half bits, rounding to nearest even (used to write fp16 variants in tests). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Data accepted by the writer. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

/** One tensor to write. `data` may be a function so large files are produced one tensor at a time. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: TensorData | (() => TensorData);
}

/**
 * Writes a safetensors file. Tensors are laid out in the order given; the header is padded with
 * spaces to a multiple of 8 bytes (as the reference writer does). Writes to `<path>.tmp-<pid>` and
 * renames, so a crash never leaves a half-written file under the final name.
 *
 * @throws SafetensorsError when a tensor's data length disagrees with its dtype and shape.
 * @example writeSafetensors('out.safetensors', [{ name: 'sample', dtype: 'F32', shape: [1, 4], data: new Float32Array(4) }]);
 */
export function writeSafetensors(path: string, entries: readonly TensorEntry[], metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const entry of entries) {
    if (!isDType(entry.dtype)) throw new SafetensorsError(`cannot write tensor '${entry.name}': unsupported dtype ${String(entry.dtype)}`);
    const bytes = elementCount(entry.shape) * BYTES_PER_ELEMENT[entry.dtype];
    header[entry.name] = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(jsonBytes.length));

  const tmpPath = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmpPath, 'w');
  try {
    writeSync(fd, lengthBytes);
    writeSync(fd, jsonBytes);
    for (const entry of entries) {
      const data = typeof entry.data === 'function' ? entry.data() : entry.data;
      const expected = elementCount(entry.shape) * BYTES_PER_ELEMENT[entry.dtype];
      if (data.byteLength !== expected) {
        throw new SafetensorsError(`cannot write tensor '${entry.name}': ${entry.dtype} ${JSON.stringify(entry.shape)} needs ${expected} bytes, got ${data.byteLength}`);
      }
      const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      let done = 0;
      while (done < view.length) done += writeSync(fd, view, done, view.length - done);
    }
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(tmpPath, { force: true });
    throw error;
  }
  renameSync(tmpPath, path);
}
