import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, saveModel, serializeModel, float32ToFloat16Bits } from '../../../gpu-runner/graph/index.ts';

const workDir = mkdtempSync(join(tmpdir(), 'graph-builder-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** y = x·W + b with W [4,3] large enough to land in the side file. */
function linearModel(options: { weightStorage?: 'float32' | 'float16'; initializers?: 'keep' | 'discard'; rows?: number } = {}) {
  const rows = options.rows ?? 4;
  const g = new GraphBuilder({ name: 'linear', ...options });
  const x = g.input('x', 'float32', ['batch', rows]);
  const w = Float32Array.from({ length: rows * 3 }, (_, i) => (i % 7) * 0.25 - 0.5);
  const b = Float32Array.from([0.1, -0.2, 0.3]);
  const y = g.add(g.matMul(x, g.weight('proj.weight', w, [rows, 3])), g.weight('proj.bias', b, [3])); // [batch, 3]
  g.output(y, 'y', 'float32', ['batch', 3]);
  return { model: g.build(), w, b, rows };
}

function expectedLinear(x: Float32Array, w: Float32Array, b: Float32Array, rows: number): number[] {
  const batch = x.length / rows;
  const out: number[] = [];
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < 3; j++) {
      let s = b[j];
      for (let i = 0; i < rows; i++) s += x[n * rows + i] * w[i * 3 + j];
      out.push(s);
    }
  }
  return out;
}

describe('GraphBuilder', () => {
  it('serializes a graph that onnxruntime runs with the expected values', async () => {
    const { model, w, b, rows } = linearModel();
    const session = await ort.InferenceSession.create(serializeModel(model));
    const x = Float32Array.from({ length: 2 * rows }, (_, i) => i - 3);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [2, rows]) });
    expect(y.dims).toEqual([2, 3]);
    const got = Array.from(y.data as Float32Array);
    expectedLinear(x, w, b, rows).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
  });

  it('saves weights to a side file that a session created from the path finds', async () => {
    const rows = 512; // 6 KB of weights: above the inline threshold
    const { model, w, b } = linearModel({ rows });
    const path = saveModel(model, workDir, 'linear');
    expect(statSync(`${path}.data`).size).toBeGreaterThanOrEqual(rows * 3 * 4);
    expect(statSync(path).size).toBeLessThan(rows * 3 * 4);
    const session = await ort.InferenceSession.create(path);
    const x = Float32Array.from({ length: rows }, (_, i) => Math.sin(i));
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [1, rows]) });
    const got = Array.from(y.data as Float32Array);
    expectedLinear(x, w, b, rows).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
  });

  it('stores fp16 weights and casts them back to float32 in the graph', async () => {
    const { model, w, b, rows } = linearModel({ weightStorage: 'float16' });
    expect(model.initializers.find((i) => i.name === 'proj.weight.fp16')?.dtype).toBe('float16');
    const session = await ort.InferenceSession.create(serializeModel(model));
    const x = Float32Array.from({ length: rows }, (_, i) => i + 1);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [1, rows]) });
    const got = Array.from(y.data as Float32Array);
    // 0.1, -0.2 and 0.3 are not exact in half precision: allow its rounding error.
    expectedLinear(x, w, b, rows).forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(1e-3));
  });

  it('converts float32 to half bit patterns with round-to-nearest-even', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
  });

  it('records names and shapes but no data in discard mode, and refuses to serialize it', () => {
    const { model } = linearModel({ initializers: 'discard' });
    const weight = model.initializers.find((i) => i.name === 'proj.weight');
    expect(weight?.dims).toEqual([4, 3]);
    expect(weight?.values).toBeUndefined();
    expect(() => serializeModel(model)).toThrow(/discard/);
  });

  it('fails when a value name is used twice', () => {
    const g = new GraphBuilder({ name: 'dup' });
    g.input('x', 'float32', [1]);
    expect(() => g.input('x', 'float32', [1])).toThrow(/"x" is used twice/);
  });
});
