import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AttentionStore, defaultMemoryBudget } from '../../../gpu-runner/engine/attention-store.ts';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const tensor = (n: number, offset: number) => ({ dims: [n], data: Float32Array.from({ length: n }, (_, i) => i + offset) });

describe('AttentionStore', () => {
  it('keeps entries in memory within the budget and reports bytes', () => {
    const store = new AttentionStore({ memoryBudgetBytes: 1024 });
    store.put(0, 'a', tensor(64, 0));
    store.put(1, 'a', tensor(64, 1));
    expect(store.stats()).toMatchObject({ totalBytes: 512, memoryBytes: 512, diskBytes: 0, entries: 2 });
    expect(store.get(1, 'a').data[0]).toBe(1);
  });

  it('spills to disk beyond the budget and reads spilled entries back exactly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    dirs.push(dir);
    const store = new AttentionStore({ memoryBudgetBytes: 300, spillDir: join(dir, 'spill') });
    for (let s = 0; s < 4; s++) store.put(s, 'layer', tensor(64, s * 100));
    const stats = store.stats();
    expect(stats.memoryBytes).toBe(256);
    expect(stats.diskBytes).toBe(768);
    expect(stats.peakMemoryBytes).toBeLessThanOrEqual(300);
    for (let s = 0; s < 4; s++) expect(store.get(s, 'layer')).toEqual(tensor(64, s * 100));
    expect(readdirSync(join(dir, 'spill')).length).toBe(3);
    store.dispose();
    expect(readdirSync(join(dir, 'spill')).length).toBe(0);
  });

  it('fails with advice when over budget without a spill folder, and when an entry is missing', () => {
    const store = new AttentionStore({ memoryBudgetBytes: 10 });
    expect(() => store.put(0, 'x', tensor(8, 0))).toThrow(/spillDir/);
    expect(() => store.get(3, 'y')).toThrow(/nothing recorded for y at step 3/);
    expect(existsSync('0.f32')).toBe(false);
  });

  it('checks dims against data', () => {
    expect(() => new AttentionStore().put(0, 'x', { dims: [2, 3], data: new Float32Array(5) })).toThrow(/hold 6 values/);
  });

  it('derives a default budget of half the free memory', () => {
    expect(defaultMemoryBudget(8e9)).toBe(4e9);
  });
});

describe('AttentionStore in float16', () => {
  it('halves the bytes and keeps probabilities to half precision (memory and disk)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store16-'));
    dirs.push(dir);
    const values = Float32Array.from({ length: 1000 }, (_, i) => (i % 97) / 97 + 1e-6 * i);
    const store = new AttentionStore({ precision: 'float16', memoryBudgetBytes: 2000, spillDir: dir });
    store.put(0, 'mem', { dims: [1000], data: values });
    store.put(1, 'disk', { dims: [1000], data: values });
    expect(store.stats()).toMatchObject({ memoryBytes: 2000, diskBytes: 2000 });
    for (const [step, name] of [[0, 'mem'], [1, 'disk']] as const) {
      const back = store.get(step, name).data;
      for (let i = 0; i < values.length; i++) expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -11 + 2 ** -25);
    }
  });
});
