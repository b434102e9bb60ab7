import { describe, expect, it } from 'vitest';
import { GraphBuilder, type ValueRef } from '../../../../gpu-runner/graph/index.ts';
import { activation } from '../../../../gpu-runner/models/blocks/activations.ts';
import { attentionCore, type AttentionPath } from '../../../../gpu-runner/models/blocks/attention.ts';
import type { BlockContext } from '../../../../gpu-runner/models/blocks/context.ts';
import { conv2d, groupNorm, layerNorm, linear } from '../../../../gpu-runner/models/blocks/layers.ts';
import { downsample, upsample } from '../../../../gpu-runner/models/blocks/resample.ts';
import { resnetBlock } from '../../../../gpu-runner/models/blocks/resnet.ts';
import { timestepProjection } from '../../../../gpu-runner/models/blocks/timestep.ts';
import { transformerBlock } from '../../../../gpu-runner/models/blocks/transformer.ts';
import { NO_HOOKS } from '../../../../gpu-runner/models/unet/hooks.ts';
import * as ref from './reference-ops.ts';
import { f32, i64, maxAbsDiff, runModel } from './support.ts';

const TOL = 1e-5;

/** Builds a one-input, one-output graph around `body` and runs it on `x`. */
async function runBlock(dims: number[], x: Float32Array, body: (ctx: BlockContext, input: ValueRef) => ValueRef, weights = new ref.MemoryWeights()) {
  const g = new GraphBuilder({ name: 'block' });
  const input = g.input('x', 'float32', dims);
  g.output(body({ g, weights }, input), 'y', 'float32');
  const out = await runModel(g.build(), { x: f32(x, dims) });
  return { y: out.y.data as Float32Array, dims: out.y.dims, weights };
}

describe('layers vs plain TypeScript references', () => {
  it('linear stores Wᵀ and computes x·Wᵀ + b', async () => {
    const x = ref.randomValues(2 * 3 * 5, 11);
    const { y, weights } = await runBlock([2, 3, 5], x, (ctx, v) => linear(ctx, 'fc', v, 5, 7));
    expect(maxAbsDiff(y, ref.linear(x, 5, 7, weights.w('fc.weight'), weights.w('fc.bias')))).toBeLessThanOrEqual(TOL);
  });

  it.each([
    ['3x3 same', 3, 1, [1, 1, 1, 1]],
    ['1x1', 1, 1, [0, 0, 0, 0]],
  ] as const)('conv2d %s', async (_label, k, stride, pads) => {
    const x = ref.randomValues(2 * 3 * 6 * 5, 12);
    const { y, weights } = await runBlock([2, 3, 6, 5], x, (ctx, v) => conv2d(ctx, 'conv', v, 3, 4, { kernel: k, stride }));
    const expected = ref.conv2d(x, 2, 3, 6, 5, weights.w('conv.weight'), weights.w('conv.bias'), 4, k, stride, [...pads]);
    expect(maxAbsDiff(y, expected.y)).toBeLessThanOrEqual(TOL);
  });

  it('UNet downsample pads symmetrically; VAE downsample pads right/bottom only', async () => {
    const x = ref.randomValues(1 * 2 * 7 * 6, 13);
    const sym = await runBlock([1, 2, 7, 6], x, (ctx, v) => downsample(ctx, 'down', v, 2, 3, 'symmetric'));
    const symRef = ref.conv2d(x, 1, 2, 7, 6, sym.weights.w('down.conv.weight'), sym.weights.w('down.conv.bias'), 3, 3, 2, [1, 1, 1, 1]);
    expect(sym.dims).toEqual([1, 3, symRef.oh, symRef.ow]);
    expect(maxAbsDiff(sym.y, symRef.y)).toBeLessThanOrEqual(TOL);
    const rb = await runBlock([1, 2, 7, 6], x, (ctx, v) => downsample(ctx, 'down', v, 2, 3, 'right-bottom'));
    const rbRef = ref.conv2d(x, 1, 2, 7, 6, rb.weights.w('down.conv.weight'), rb.weights.w('down.conv.bias'), 3, 3, 2, [0, 0, 1, 1]);
    expect(rb.dims).toEqual([1, 3, rbRef.oh, rbRef.ow]);
    expect(maxAbsDiff(rb.y, rbRef.y)).toBeLessThanOrEqual(TOL);
  });

  it.each([[[8, 8]], [[3, 5]]] as const)('nearest upsample to %j then conv (PyTorch index rule floor(dst·in/out))', async (size) => {
    const [h, w] = [4, 3];
    const x = ref.randomValues(1 * 2 * h * w, 14);
    const { y, weights } = await runBlock([1, 2, h, w], x, (ctx, v) => upsample(ctx, 'up', v, 2, 2, [size[0], size[1]]));
    const [oh, ow] = size;
    const resized = new Float32Array(2 * oh * ow);
    for (let c = 0; c < 2; c++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      resized[(c * oh + i) * ow + j] = x[(c * h + Math.floor((i * h) / oh)) * w + Math.floor((j * w) / ow)];
    }
    const expected = ref.conv2d(resized, 1, 2, oh, ow, weights.w('up.conv.weight'), weights.w('up.conv.bias'), 2, 3, 1, [1, 1, 1, 1]);
    expect(maxAbsDiff(y, expected.y)).toBeLessThanOrEqual(TOL);
  });

  it('group norm uses per-group statistics and a per-channel affine', async () => {
    const x = ref.randomValues(2 * 8 * 3 * 5, 15, 3);
    const { y, weights } = await runBlock([2, 8, 3, 5], x, (ctx, v) => groupNorm(ctx, 'gn', v, 8, 4, 1e-6, [3, 5]));
    expect(maxAbsDiff(y, ref.groupNorm(x, 2, 8, 15, 4, 1e-6, weights.w('gn.weight'), weights.w('gn.bias')))).toBeLessThanOrEqual(TOL);
  });

  it("group norm over a clip equals torch's GroupNorm on the 5-D [b, c, f, h, w] tensor (FateZero's inflated ResNets)", async () => {
    const clips = 2, F = 3, C = 8, S = 15;
    const x = ref.randomValues(clips * F * C * S, 19, 3);
    const { y, weights } = await runBlock([clips * F, C, 3, 5], x, (ctx, v) => groupNorm(ctx, 'gn', v, C, 4, 1e-5, [3, 5], F));
    // [(b f), c, s] -> [b, c, (f s)], normalise per (b, group), and back
    const toClip = (v: Float32Array, back: boolean) => {
      const out = new Float32Array(v.length);
      for (let b = 0; b < clips; b++) for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) for (let i = 0; i < S; i++) {
        const frameMajor = ((b * F + f) * C + c) * S + i;
        const channelMajor = ((b * C + c) * F + f) * S + i;
        if (back) out[frameMajor] = v[channelMajor];
        else out[channelMajor] = v[frameMajor];
      }
      return out;
    };
    const expected = toClip(ref.groupNorm(toClip(x, false), clips, C, F * S, 4, 1e-5, weights.w('gn.weight'), weights.w('gn.bias')), true);
    expect(maxAbsDiff(y, expected)).toBeLessThanOrEqual(TOL);
    // and it is not the per-frame norm
    const perFrame = ref.groupNorm(x, clips * F, C, S, 4, 1e-5, weights.w('gn.weight'), weights.w('gn.bias'));
    expect(maxAbsDiff(y, perFrame)).toBeGreaterThan(1e-2);
  });

  it('layer norm over the last axis', async () => {
    const x = ref.randomValues(2 * 4 * 6, 16, 2);
    const { y, weights } = await runBlock([2, 4, 6], x, (ctx, v) => layerNorm(ctx, 'ln', v, 6, 1e-5));
    expect(maxAbsDiff(y, ref.layerNorm(x, 6, 1e-5, weights.w('ln.weight'), weights.w('ln.bias')))).toBeLessThanOrEqual(TOL);
  });

  it.each([['silu', ref.silu], ['gelu', ref.gelu], ['quick_gelu', ref.quickGelu]] as const)('%s activation', async (name, fn) => {
    const x = ref.randomValues(64, 17, 4);
    const { y } = await runBlock([64], x, (ctx, v) => activation(ctx.g, name, v));
    expect(maxAbsDiff(y, ref.map(x, fn))).toBeLessThanOrEqual(TOL);
  });

  it('gelu before opset 20 (erf formula) equals the Gelu op', async () => {
    const x = ref.randomValues(64, 18, 4);
    const g = new GraphBuilder({ name: 'gelu17', opset: 17 });
    g.output(activation(g, 'gelu', g.input('x', 'float32', [64])), 'y', 'float32');
    expect(g.build().nodes.some((n) => n.opType === 'Erf')).toBe(true);
    const out = await runModel(g.build(), { x: f32(x, [64]) });
    expect(maxAbsDiff(out.y.data as Float32Array, ref.map(x, ref.gelu))).toBeLessThanOrEqual(TOL);
  });

  it('fails on an unknown activation, listing the allowed ones', () => {
    const g = new GraphBuilder({ name: 'x' });
    expect(() => activation(g, 'mish', g.input('x', 'float32', [1]))).toThrow(/"mish".*silu, swish, gelu, quick_gelu/);
  });
});

describe('attention vs plain TypeScript reference', () => {
  const [B, Q, K, C, heads] = [2, 6, 5, 8, 2];
  const q = ref.randomValues(B * Q * C, 21, 2);
  const k = ref.randomValues(B * K * C, 22, 2);
  const v = ref.randomValues(B * K * C, 23);

  async function core(path: AttentionPath, options: { frames?: number; mask?: Float32Array; kBatch?: number } = {}) {
    const kb = options.kBatch ?? B;
    const g = new GraphBuilder({ name: 'attn' });
    const qi = g.input('q', 'float32', [B, Q, C]);
    const ki = g.input('k', 'float32', [kb, K, C]);
    const vi = g.input('v', 'float32', [kb, K, C]);
    const mask = options.mask ? g.constFloat(options.mask, [Q, K]) : undefined;
    g.output(attentionCore(g, qi, ki, vi, C, Q, K, { heads, path, frames: options.frames, mask }), 'y', 'float32');
    const out = await runModel(g.build(), { q: f32(q, [B, Q, C]), k: f32(k.subarray(0, kb * K * C), [kb, K, C]), v: f32(v.subarray(0, kb * K * C), [kb, K, C]) });
    return out.y.data as Float32Array;
  }

  it.each(['explicit', 'fused'] as const)('%s path equals softmax(q·kᵀ/√d)·v per head', async (path) => {
    expect(maxAbsDiff(await core(path), ref.attention(q, k, v, B, Q, K, C, heads))).toBeLessThanOrEqual(TOL);
  });

  it('explicit path applies an additive (causal) mask', async () => {
    const mask = new Float32Array(Q * K);
    for (let i = 0; i < Q; i++) for (let j = 0; j < K; j++) if (j > i) mask[i * K + j] = -1e30;
    expect(maxAbsDiff(await core('explicit', { mask }), ref.attention(q, k, v, B, Q, K, C, heads, mask))).toBeLessThanOrEqual(TOL);
  });

  it.each(['explicit', 'fused'] as const)('%s path with frames: queries of a group share one key batch item', async (path) => {
    // B = 2 frames in 1 group: both frames use k[0], v[0]
    const shared = new Float32Array(B * K * C);
    shared.set(k.subarray(0, K * C), 0); shared.set(k.subarray(0, K * C), K * C);
    const sharedV = new Float32Array(B * K * C);
    sharedV.set(v.subarray(0, K * C), 0); sharedV.set(v.subarray(0, K * C), K * C);
    const expected = ref.attention(q, shared, sharedV, B, Q, K, C, heads);
    expect(maxAbsDiff(await core(path, { frames: 2, kBatch: 1 }), expected)).toBeLessThanOrEqual(TOL);
  });
});

describe('composite blocks vs plain TypeScript reference', () => {
  it.each([
    ['int64 0-dim, cos first', 'int64', [], [981], true, 0],
    ['float32 [B], sin first, freq_shift 1', 'float32', [3], [0, 499.5, 999], false, 1],
  ] as const)('timestep embedding: %s', async (_label, dtype, dims, values, flip, shift) => {
    const channels = 10;
    const g = new GraphBuilder({ name: 't' });
    const t = g.input('t', dtype, [...dims]);
    const batchOf = g.input('s', 'float32', [3, 1]);
    g.output(timestepProjection(g, t, batchOf, { channels, flipSinToCos: flip, freqShift: shift }), 'y', 'float32');
    const tFeed = dtype === 'int64' ? i64(BigInt64Array.from(values.map(BigInt)), [...dims]) : f32(Float32Array.from(values), [...dims]);
    const out = await runModel(g.build(), { t: tFeed, s: f32(new Float32Array(3), [3, 1]) });
    const half = channels / 2;
    const expected: number[] = [];
    for (let b = 0; b < 3; b++) {
      const tb = values.length === 1 ? values[0] : values[b];
      const args = Array.from({ length: half }, (_, i) => tb * Math.exp((-Math.log(10000) * i) / (half - shift)));
      const sin = args.map(Math.sin), cos = args.map(Math.cos);
      expected.push(...(flip ? [...cos, ...sin] : [...sin, ...cos]));
    }
    expect(out.y.dims).toEqual([3, channels]);
    // float32 argument rounding at t ~ 1000 rad limits agreement to ~1e-4
    expect(maxAbsDiff(out.y.data as Float32Array, expected)).toBeLessThanOrEqual(2e-4);
  });

  it('resnet block with time embedding and a 1x1 shortcut', async () => {
    const [B, cin, cout, h, w, T] = [2, 4, 6, 5, 3, 7];
    const x = ref.randomValues(B * cin * h * w, 31, 2);
    const temb = ref.randomValues(B * T, 32);
    const weights = new ref.MemoryWeights();
    const g = new GraphBuilder({ name: 'res' });
    const xi = g.input('x', 'float32', [B, cin, h, w]);
    const ti = g.input('temb', 'float32', [B, T]);
    g.output(resnetBlock({ g, weights }, 'res', xi, ti, { inChannels: cin, outChannels: cout, groups: 2, eps: 1e-5, spatial: [h, w], tembChannels: T }), 'y', 'float32');
    const out = await runModel(g.build(), { x: f32(x, [B, cin, h, w]), temb: f32(temb, [B, T]) });
    const W = (n: string) => weights.w(`res.${n}`);
    let hh = ref.map(ref.groupNorm(x, B, cin, h * w, 2, 1e-5, W('norm1.weight'), W('norm1.bias')), ref.silu);
    hh = ref.conv2d(hh, B, cin, h, w, W('conv1.weight'), W('conv1.bias'), cout, 3, 1, [1, 1, 1, 1]).y;
    const tproj = ref.linear(ref.map(temb, ref.silu), T, cout, W('time_emb_proj.weight'), W('time_emb_proj.bias'));
    hh = hh.map((v, i) => v + tproj[Math.floor(i / (h * w * cout)) * cout + (Math.floor(i / (h * w)) % cout)]);
    hh = ref.map(ref.groupNorm(hh, B, cout, h * w, 2, 1e-5, W('norm2.weight'), W('norm2.bias')), ref.silu);
    hh = ref.conv2d(hh, B, cout, h, w, W('conv2.weight'), W('conv2.bias'), cout, 3, 1, [1, 1, 1, 1]).y;
    const shortcut = ref.conv2d(x, B, cin, h, w, W('conv_shortcut.weight'), W('conv_shortcut.bias'), cout, 1, 1, [0, 0, 0, 0]).y;
    expect(maxAbsDiff(out.y.data as Float32Array, ref.add(shortcut, hh))).toBeLessThanOrEqual(TOL);
  });

  it('transformer block: self-attn, cross-attn, GEGLU feed-forward (value half first, exact GELU)', async () => {
    const [B, H, W, C, heads, L, Cctx] = [2, 2, 3, 8, 2, 4, 6];
    const N = H * W;
    const x = ref.randomValues(B * N * C, 41, 2);
    const ctxData = ref.randomValues(B * L * Cctx, 42);
    const weights = new ref.MemoryWeights();
    const g = new GraphBuilder({ name: 'tb' });
    const xi = g.input('x', 'float32', [B, N, C]);
    const ci = g.input('ctx', 'float32', [B, L, Cctx]);
    const place = { level: 0, height: H, width: W, frames: 1, crossFrame: false, hooks: NO_HOOKS, attention: 'fused' as const };
    g.output(transformerBlock({ g, weights }, 'tb', xi, ci, { channels: C, heads, contextChannels: Cctx, contextTokens: L, groups: 2, useLinearProjection: false }, place), 'y', 'float32');
    const out = await runModel(g.build(), { x: f32(x, [B, N, C]), ctx: f32(ctxData, [B, L, Cctx]) });
    const Wt = (n: string) => weights.w(`tb.${n}`);
    const attn = (prefix: string, input: Float32Array, context: Float32Array, nk: number, cctx: number) => {
      const q = ref.linear(input, C, C, Wt(`${prefix}.to_q.weight`));
      const k = ref.linear(context, cctx, C, Wt(`${prefix}.to_k.weight`));
      const v = ref.linear(context, cctx, C, Wt(`${prefix}.to_v.weight`));
      return ref.linear(ref.attention(q, k, v, B, N, nk, C, heads), C, C, Wt(`${prefix}.to_out.0.weight`), Wt(`${prefix}.to_out.0.bias`));
    };
    let h = x;
    const n1 = ref.layerNorm(h, C, 1e-5, Wt('norm1.weight'), Wt('norm1.bias'));
    h = ref.add(h, attn('attn1', n1, n1, N, C));
    const n2 = ref.layerNorm(h, C, 1e-5, Wt('norm2.weight'), Wt('norm2.bias'));
    h = ref.add(h, attn('attn2', n2, ctxData, L, Cctx));
    const n3 = ref.layerNorm(h, C, 1e-5, Wt('norm3.weight'), Wt('norm3.bias'));
    const proj = ref.linear(n3, C, 8 * C, Wt('ff.net.0.proj.weight'), Wt('ff.net.0.proj.bias'));
    const inner = new Float32Array(B * N * 4 * C);
    for (let r = 0; r < B * N; r++) for (let i = 0; i < 4 * C; i++) inner[r * 4 * C + i] = proj[r * 8 * C + i] * ref.gelu(proj[r * 8 * C + 4 * C + i]);
    h = ref.add(h, ref.linear(inner, 4 * C, C, Wt('ff.net.2.weight'), Wt('ff.net.2.bias')));
    expect(maxAbsDiff(out.y.data as Float32Array, h)).toBeLessThanOrEqual(TOL);
  });
});
