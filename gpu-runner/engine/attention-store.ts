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
}

interface Entry {
  dims: readonly number[];
  bytes: number;
  data?: Float32Array;
  file?: string;
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
  private memoryBytes = 0;
  private diskBytes = 0;
  private peakMemoryBytes = 0;
  private spillCount = 0;

  constructor(options: AttentionStoreOptions = {}) {
    this.budget = options.memoryBudgetBytes ?? Infinity;
    this.spillDir = options.spillDir;
    if (!(this.budget >= 0)) throw new Error(`AttentionStore: memoryBudgetBytes must be >= 0, got ${String(options.memoryBudgetBytes)}.`);
  }

  private static key(step: number, name: string): string {
    return `${step}|${name}`;
  }

  /** Records a tensor for (step, layer). Replaces an earlier one. The store keeps `tensor.data` (no copy) in memory. */
  put(step: number, name: string, tensor: StoredTensor): void {
    const expected = tensor.dims.reduce((a, b) => a * b, 1);
    if (expected !== tensor.data.length) throw new Error(`AttentionStore.put(${step}, ${name}): dims [${tensor.dims.join(', ')}] hold ${expected} values but data has ${tensor.data.length}.`);
    this.delete(step, name);
    const bytes = tensor.data.byteLength;
    const entry: Entry = { dims: [...tensor.dims], bytes };
    if (this.memoryBytes + bytes <= this.budget) {
      entry.data = tensor.data;
      this.memoryBytes += bytes;
      this.peakMemoryBytes = Math.max(this.peakMemoryBytes, this.memoryBytes);
    } else {
      if (!this.spillDir) {
        throw new Error(`AttentionStore: storing ${name} at step ${step} (${bytes} bytes) exceeds the memory budget of ${this.budget} bytes and no spillDir was given. Pass spillDir (a folder on a disk with room) or raise memoryBudgetBytes.`);
      }
      mkdirSync(this.spillDir, { recursive: true });
      entry.file = join(this.spillDir, `${this.spillCount++}.f32`);
      writeFileSync(entry.file, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, bytes));
      this.diskBytes += bytes;
    }
    this.entries.set(AttentionStore.key(step, name), entry);
  }

  /** The tensor recorded at (step, layer), read back from disk if it was spilled. @throws when nothing was recorded. */
  get(step: number, name: string): StoredTensor {
    const entry = this.entries.get(AttentionStore.key(step, name));
    if (!entry) throw new Error(`AttentionStore: nothing recorded for ${name} at step ${step} (${this.entries.size} entries stored). Inversion must run with the same layers and steps as editing.`);
    if (entry.data) return { dims: entry.dims, data: entry.data };
    const raw = readFileSync(entry.file as string);
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
