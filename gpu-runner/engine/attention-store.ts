/**
 * The attention store: what inversion recorded at every step for every controlled layer (FateZero keeps all of
 * it, tens of GB at 512 px). Tensors live in memory up to a byte budget; beyond it they spill to files in a
 * folder the caller names, so a job never fails for lack of RAM when disk would do. Reports its bytes.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A float32 tensor and its dims. */
export interface StoredTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export interface AttentionStoreOptions {
  /**
   * Bytes kept in memory before new entries go to disk.
   * @default Infinity (never spill)
   */
  readonly memoryBudgetBytes?: number;
  /** Folder for spilled entries (created on first spill). Required when the budget can be exceeded. */
  readonly spillDir?: string;
  /**
   * Storage precision. 'float16' halves the bytes (maps are probabilities in [0, 1]; half keeps ~3 significant
   * digits) at the cost of a conversion per put/get.
   * @default 'float32'
   */
  readonly precision?: 'float32' | 'float16';
}

interface Entry {
  dims: readonly number[];
  bytes: number;
  data?: Float32Array | Uint16Array;
  file?: string;
}

/** float32 -> IEEE half bits, round to nearest even (values here are finite). */
function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < words.length; i++) {
    const x = words[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h: number;
    if (exp >= 143) h = sign | 0x7c00; // overflow -> inf
    else if (exp >= 113) {
      // normal half: 10-bit mantissa, round to nearest even
      h = sign | ((exp - 112) << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
    } else if (exp >= 102) {
      // subnormal half
      const m = mant | 0x800000;
      const shift = 126 - exp;
      h = sign | (m >>> shift);
      const rest = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && (h & 1))) h++;
    } else h = sign;
    out[i] = h;
  }
  return out;
}

const HALF_TABLE = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    table[h] = exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

function fromHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = HALF_TABLE[bits[i]];
  return out;
}

/** Byte counts of a store. */
export interface AttentionStoreStats {
  /** everything stored (memory + disk) */
  totalBytes: number;
  memoryBytes: number;
  diskBytes: number;
  /** largest memoryBytes seen */
  peakMemoryBytes: number;
  entries: number;
}

/** A memory budget from the free memory: half of it, leaving room for the model and activations. */
export function defaultMemoryBudget(freeMemoryBytes: number): number {
  return Math.max(0, Math.floor(freeMemoryBytes / 2));
}

/**
 * Per-step, per-layer tensor store with disk spill.
 * @example
 * const store = new AttentionStore({ memoryBudgetBytes: 1e9, spillDir: join(workDir, 'attention') });
 * store.put(3, 'up_blocks.1.attentions.0.attn2', { dims: [8, 8, 256, 77], data });
 * store.get(3, 'up_blocks.1.attentions.0.attn2').data;
 */
export class AttentionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly budget: number;
  private readonly spillDir: string | undefined;
  private readonly half: boolean;
  private memoryBytes = 0;
  private diskBytes = 0;
  private peakMemoryBytes = 0;
  private spillCount = 0;

  constructor(options: AttentionStoreOptions = {}) {
    this.budget = options.memoryBudgetBytes ?? Infinity;
    this.spillDir = options.spillDir;
    this.half = options.precision === 'float16';
    if (!(this.budget >= 0)) throw new Error(`AttentionStore: memoryBudgetBytes must be >= 0, got ${String(options.memoryBudgetBytes)}.`);
  }

  private static key(step: number, name: string): string {
    return `${step}|${name}`;
  }

  /** Records a tensor for (step, layer), replacing an earlier one. In float32 the store keeps `tensor.data` (no copy). */
  put(step: number, name: string, tensor: StoredTensor): void {
    const expected = tensor.dims.reduce((a, b) => a * b, 1);
    if (expected !== tensor.data.length) throw new Error(`AttentionStore.put(${step}, ${name}): dims [${tensor.dims.join(', ')}] hold ${expected} values but data has ${tensor.data.length}.`);
    this.delete(step, name);
    const stored = this.half ? toHalf(tensor.data) : tensor.data;
    const bytes = stored.byteLength;
    const entry: Entry = { dims: [...tensor.dims], bytes };
    if (this.memoryBytes + bytes <= this.budget) {
      entry.data = stored;
      this.memoryBytes += bytes;
      this.peakMemoryBytes = Math.max(this.peakMemoryBytes, this.memoryBytes);
    } else {
      if (!this.spillDir) {
        throw new Error(`AttentionStore: storing ${name} at step ${step} (${bytes} bytes) exceeds the memory budget of ${this.budget} bytes and no spillDir was given. Pass spillDir (a folder on a disk with room) or raise memoryBudgetBytes.`);
      }
      mkdirSync(this.spillDir, { recursive: true });
      entry.file = join(this.spillDir, `${this.spillCount++}.f32`);
      writeFileSync(entry.file, new Uint8Array(stored.buffer, stored.byteOffset, bytes));
      this.diskBytes += bytes;
    }
    this.entries.set(AttentionStore.key(step, name), entry);
  }

  /** The tensor recorded at (step, layer), read back from disk if it was spilled. @throws when nothing was recorded. */
  get(step: number, name: string): StoredTensor {
    const entry = this.entries.get(AttentionStore.key(step, name));
    if (!entry) throw new Error(`AttentionStore: nothing recorded for ${name} at step ${step} (${this.entries.size} entries stored). Inversion must run with the same layers and steps as editing.`);
    if (entry.data) return { dims: entry.dims, data: entry.data instanceof Uint16Array ? fromHalf(entry.data) : entry.data };
    const raw = readFileSync(entry.file as string);
    if (this.half) {
      const bits = new Uint16Array(raw.byteLength / 2);
      new Uint8Array(bits.buffer).set(raw);
      return { dims: entry.dims, data: fromHalf(bits) };
    }
    const data = new Float32Array(raw.byteLength / 4);
    new Uint8Array(data.buffer).set(raw);
    return { dims: entry.dims, data };
  }

  has(step: number, name: string): boolean {
    return this.entries.has(AttentionStore.key(step, name));
  }

  /** Forgets one entry (and its file). */
  delete(step: number, name: string): void {
    const key = AttentionStore.key(step, name);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (entry.data) this.memoryBytes -= entry.bytes;
    if (entry.file) {
      this.diskBytes -= entry.bytes;
      rmSync(entry.file, { force: true });
    }
    this.entries.delete(key);
  }

  /** Byte counts for the report. */
  stats(): AttentionStoreStats {
    return {
      totalBytes: this.memoryBytes + this.diskBytes,
      memoryBytes: this.memoryBytes,
      diskBytes: this.diskBytes,
      peakMemoryBytes: this.peakMemoryBytes,
      entries: this.entries.size,
    };
  }

  /** Drops everything and removes spilled files. */
  dispose(): void {
    for (const entry of this.entries.values()) if (entry.file) rmSync(entry.file, { force: true });
    this.entries.clear();
    this.memoryBytes = 0;
    this.diskBytes = 0;
  }
}
