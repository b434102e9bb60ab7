import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../../gpu-runner/graph/index.ts';
import { attentionCore, chunkedAttention, type AttentionPath } from '../../../../gpu-runner/models/blocks/attention.ts';
import * as ref from './reference-ops.ts';
import { f32, maxAbsDiff, runModel } from './support.ts';

const TOL = 1e-5;

describe('query-chunked exact attention vs the plain TypeScript reference', () => {
  // Q = 10 rows in chunks of 4: two full chunks and a short last one
  const [B, Q, K, C, heads] = [2, 10, 7, 8, 2];
  const q = ref.randomValues(B * Q * C, 31, 2);
  const k = ref.randomValues(B * K * C, 32, 2);
  const v = ref.randomValues(B * K * C, 33);

  function build(path: AttentionPath, options: { frames?: number; queryChunk?: number; builderChunk?: number } = {}) {
    const kb = options.frames ? B / options.frames : B;
    const g = new GraphBuilder({ name: 'attn', attentionQueryChunk: options.builderChunk });
    const qi = g.input('q', 'float32', [B, Q, C]);
    const ki = g.input('k', 'float32', [kb, K, C]);
    const vi = g.input('v', 'float32', [kb, K, C]);
    g.output(attentionCore(g, qi, ki, vi, C, Q, K, { heads, path, frames: options.frames, queryChunk: options.queryChunk }), 'y', 'float32');
    return { model: g.build(), kb };
  }

  async function run(path: AttentionPath, options: { frames?: number; queryChunk?: number; builderChunk?: number } = {}) {
    const { model, kb } = build(path, options);
    const out = await runModel(model, { q: f32(q, [B, Q, C]), k: f32(k.subarray(0, kb * K * C), [kb, K, C]), v: f32(v.subarray(0, kb * K * C), [kb, K, C]) });
    return { y: out.y.data as Float32Array, model };
  }

  it.each(['explicit', 'fused'] as const)('%s path: chunks of 4 rows equal the reference and the unchunked graph', async (path) => {
    const chunked = await run(path, { queryChunk: 4 });
    const whole = await run(path);
    expect(maxAbsDiff(chunked.y, ref.attention(q, k, v, B, Q, K, C, heads))).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(chunked.y, whole.y)).toBeLessThanOrEqual(TOL);
  });

  it.each(['explicit', 'fused'] as const)('%s path with frames sharing keys (cross-frame): chunked equals the reference', async (path) => {
    // 2 frames in 1 group: both use k[0], v[0]
    const sharedK = new Float32Array(B * K * C);
    sharedK.set(k.subarray(0, K * C), 0); sharedK.set(k.subarray(0, K * C), K * C);
    const sharedV = new Float32Array(B * K * C);
    sharedV.set(v.subarray(0, K * C), 0); sharedV.set(v.subarray(0, K * C), K * C);
    const chunked = await run(path, { frames: 2, queryChunk: 3 });
    expect(maxAbsDiff(chunked.y, ref.attention(q, sharedK, sharedV, B, Q, K, C, heads))).toBeLessThanOrEqual(TOL);
  });

  it('bounds the score matrix: every softmax (explicit) sees at most the chunk rows; the builder default applies', () => {
    const { model } = build('explicit', { builderChunk: 4 });
    const softmaxes = model.nodes.filter((n) => n.opType === 'Softmax');
    expect(softmaxes).toHaveLength(3); // ceil(10 / 4)
    const slices = model.nodes.filter((n) => n.opType === 'Slice');
    expect(slices).toHaveLength(3);
    const fused = build('fused', { builderChunk: 4 }).model.nodes.filter((n) => n.opType === 'MultiHeadAttention');
    expect(fused).toHaveLength(3);
    // a chunk as large as the queries is no chunking
    expect(build('explicit', { queryChunk: Q }).model.nodes.filter((n) => n.opType === 'Softmax')).toHaveLength(1);
  });

  it('refuses what would change the result: masks and probability hooks need the whole matrix', () => {
    const g = new GraphBuilder({ name: 'attn' });
    const x = g.input('x', 'float32', [1, 4, 8]);
    expect(() => chunkedAttention(g, x, x, x, 8, 4, 4, { heads: 2, path: 'explicit', queryChunk: 2, onProbabilities: (p) => p }))
      .toThrow('a mask or a probability hook needs the whole score matrix');
    // through attentionCore the hook wins: no chunks
    const g2 = new GraphBuilder({ name: 'attn', attentionQueryChunk: 2 });
    const y = g2.input('x', 'float32', [1, 4, 8]);
    g2.output(attentionCore(g2, y, y, y, 8, 4, 4, { heads: 2, path: 'explicit', onProbabilities: (p) => p }), 'out', 'float32');
    expect(g2.build().nodes.filter((n) => n.opType === 'Softmax')).toHaveLength(1);
  });
});
