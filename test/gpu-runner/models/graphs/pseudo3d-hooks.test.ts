import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel, type ValueRef } from '../../../../gpu-runner/graph/index.ts';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { type AttentionSite, combineHooks } from '../../../../gpu-runner/models/unet/hooks.ts';
import { tomeHooks } from '../../../../gpu-runner/models/unet/tome.ts';
import { buildUNetGraph, type UNetGraphOptions } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, maxAbsDiff, runModel } from './support.ts';

const unetDir = join(REFERENCE_MODEL_DIR, 'unet');
const config = loadUNetConfig(join(unetDir, 'config.json'));
const weights = new SafetensorsWeightSource(join(unetDir, 'diffusion_pytorch_model.safetensors'));
const [H, W, F] = [16, 16, 3];
const frameSize = 4 * H * W;
const ctxSize = 77 * 32;

function frames(count: number, seed: number): Float32Array {
  return Float32Array.from({ length: count * frameSize }, (_, i) => Math.sin(i * 0.37 + seed) * 0.8);
}
const text = Float32Array.from({ length: ctxSize }, (_, i) => Math.cos(i * 0.13) * 0.5);
const repeatText = (n: number) => { const out = new Float32Array(n * ctxSize); for (let k = 0; k < n; k++) out.set(text, k * ctxSize); return out; };

async function run(sample: Float32Array, batch: number, options: UNetGraphOptions) {
  const model = buildUNetGraph(config, weights, { height: H, width: W, ...options });
  const out = await runModel(model, {
    sample: f32(sample, [batch, 4, H, W]),
    timestep: i64(BigInt64Array.from([500n]), []),
    encoder_hidden_states: f32(repeatText(batch), [batch, 77, 32]),
  });
  return out.out_sample.data as Float32Array;
}
const frameOf = (data: Float32Array, f: number) => data.subarray(f * frameSize, (f + 1) * frameSize);

describe('pseudo-3D UNet (frames option)', () => {
  it('frames 1 builds exactly the 2-D UNet', () => {
    const plain = serializeModel(buildUNetGraph(config, weights, { height: H, width: W }));
    expect(Buffer.from(serializeModel(buildUNetGraph(config, weights, { height: H, width: W, frames: 1 }))).equals(Buffer.from(plain))).toBe(true);
  });

  it('each frame attends to the middle frame: changing frame 0 moves only frame 0, changing the middle frame moves all', async () => {
    const base = frames(2 * F, 0); // 2 groups (CFG) of F frames
    const baseOut = await run(base, 2 * F, { frames: F });
    const editedFirst = base.slice(); editedFirst.set(frames(1, 7), 0);
    const firstOut = await run(editedFirst, 2 * F, { frames: F });
    expect(maxAbsDiff(frameOf(firstOut, 0), frameOf(baseOut, 0))).toBeGreaterThan(1e-3);
    for (let f = 1; f < 2 * F; f++) expect(maxAbsDiff(frameOf(firstOut, f), frameOf(baseOut, f))).toBeLessThanOrEqual(1e-6);
    const middle = (F - 1) >> 1;
    const editedMiddle = base.slice(); editedMiddle.set(frames(1, 9), middle * frameSize);
    const middleOut = await run(editedMiddle, 2 * F, { frames: F });
    for (let f = 0; f < F; f++) expect(maxAbsDiff(frameOf(middleOut, f), frameOf(baseOut, f))).toBeGreaterThan(1e-4);
    // the second group has its own middle frame
    for (let f = F; f < 2 * F; f++) expect(maxAbsDiff(frameOf(middleOut, f), frameOf(baseOut, f))).toBeLessThanOrEqual(1e-6);
  });

  it('identical frames give the 2-D result; fused and explicit attention agree', async () => {
    const one = frames(1, 3);
    const same = new Float32Array(F * frameSize); for (let f = 0; f < F; f++) same.set(one, f * frameSize);
    const plain = await run(one, 1, {});
    const fused = await run(same, F, { frames: F, attention: 'fused' });
    for (let f = 0; f < F; f++) expect(maxAbsDiff(frameOf(fused, f), plain)).toBeLessThanOrEqual(1e-4);
    const mixed = frames(F, 5);
    const a = await run(mixed, F, { frames: F, attention: 'fused' });
    const b = await run(mixed, F, { frames: F, attention: 'explicit' });
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
  });
});

describe('token merging with cross-frame attention', () => {
  it('merges per frame at a cross-frame level (keys = the middle frame\'s merged tokens)', async () => {
    const sample = frames(2 * F, 4);
    const plain = await run(sample, 2 * F, { frames: F });
    const merged = await run(sample, 2 * F, { frames: F, hooks: tomeHooks({ ratio: [0, 0.5] }) });
    expect(merged.length).toBe(plain.length);
    expect(merged.every(Number.isFinite)).toBe(true);
    const diff = maxAbsDiff(merged, plain);
    expect(diff).toBeGreaterThan(1e-4); // merging changed the level-1 attention
    expect(diff).toBeLessThan(5); // ...but the output stays of the same magnitude
  });
});

describe('attention hooks', () => {
  it('report every attention site with its geometry and expose probabilities [B, heads, Q, K] that sum to 1', async () => {
    const sites: AttentionSite[] = [];
    const model = buildUNetGraph(config, weights, {
      height: H, width: W, frames: F,
      hooks: {
        wantsProbabilities: (site) => site.level === 1,
        onProbabilities: (g, site, probs: ValueRef) => {
          sites.push(site);
          g.output(probs, `probs.${site.name}`, 'float32');
          return probs;
        },
      },
    });
    // tiny UNet: attention only in down_blocks.0/up_blocks.1 (level 0) and the mid block (level 1, 64 channels, 8x8)
    expect(sites.map((s) => `${s.name}:${s.kind}`)).toEqual([
      'mid_block.attentions.0.transformer_blocks.0.attn1:self',
      'mid_block.attentions.0.transformer_blocks.0.attn2:cross',
    ]);
    const self = sites[0];
    expect(self).toMatchObject({ level: 1, channels: 64, heads: 8, height: 8, width: 8, frames: F, queryTokens: 64, keyTokens: 64, crossFrame: true });
    expect(sites[1]).toMatchObject({ kind: 'cross', keyTokens: 77, crossFrame: false });
    const out = await runModel(model, {
      sample: f32(frames(F, 1), [F, 4, H, W]), timestep: i64(BigInt64Array.from([10n]), []), encoder_hidden_states: f32(repeatText(F), [F, 77, 32]),
    });
    const probs = out[`probs.${self.name}`];
    expect(probs.dims).toEqual([F, 8, 64, 64]);
    const p = probs.data as Float32Array;
    for (let row = 0; row < F * 8 * 64; row += 97) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum += p[row * 64 + k];
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    }
    expect(out[`probs.${sites[1].name}`].dims).toEqual([F, 8, 64, 77]);
  });

  it('replacing probabilities changes the output (injection point works)', async () => {
    const sample = frames(1, 2);
    const plain = await run(sample, 1, {});
    const uniform = await run(sample, 1, {
      hooks: {
        wantsProbabilities: (site) => site.kind === 'cross',
        onProbabilities: (g, site, probs) => g.add(g.mul(probs, g.scalar(0)), g.scalar(1 / site.keyTokens)),
      },
    });
    expect(maxAbsDiff(plain, uniform)).toBeGreaterThan(1e-3);
    const passthrough = await run(sample, 1, { hooks: { wantsProbabilities: () => true, onProbabilities: (_g, _s, p) => p } });
    expect(maxAbsDiff(plain, passthrough)).toBeLessThanOrEqual(1e-5);
  });
});

describe('combineHooks', () => {
  it('passes probabilities only through the sets that asked for the site, in order', () => {
    const calls: string[] = [];
    const g = new GraphBuilder({ name: 'combine' });
    const probs = g.input('p', 'float32', [1, 1, 1, 1]);
    const site = { name: 's', kind: 'self', level: 1, channels: 8, heads: 1, height: 1, width: 1, frames: 1, queryTokens: 1, keyTokens: 1, crossFrame: false } as const;
    const combined = combineHooks(
      { wantsProbabilities: () => true, onProbabilities: (_g, _s, p) => { calls.push('a'); return p; } },
      { wantsProbabilities: () => false, onProbabilities: (_g, _s, p) => { calls.push('b'); return p; } },
      { wantsProbabilities: (s) => s.level === 1, onProbabilities: (_g, _s, p) => { calls.push('c'); return p; } },
    );
    expect(combined.wantsProbabilities!(site)).toBe(true);
    combined.onProbabilities!(g, site, probs);
    expect(calls).toEqual(['a', 'c']);
  });
});
