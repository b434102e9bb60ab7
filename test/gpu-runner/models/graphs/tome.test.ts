import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '../../../../gpu-runner/graph/index.ts';
import { loadUNetConfig } from '../../../../gpu-runner/models/unet/config.ts';
import { bipartiteSoftMatching, mergeWithPlan, partitionFromOffsets, planTensorNames, tomeHooks, unmergeWithPlan } from '../../../../gpu-runner/models/unet/tome.ts';
import { combineHooks } from '../../../../gpu-runner/models/unet/hooks.ts';
import { buildUNetGraph } from '../../../../gpu-runner/models/unet/unet.ts';
import { SafetensorsWeightSource } from '../../../../gpu-runner/models/weights.ts';
import { REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { f32, i64, loadCase, maxAbsDiff, runModel } from './support.ts';

/** Plain-TS tomesd merge for one frame (written from the algorithm description, independent of the graph). */
function referenceMerge(metric: Float32Array, x: Float32Array, n: number, c: number, dst: number[], src: number[], r: number, penalty?: Float32Array) {
  const unit = (t: number) => {
    const v = metric.subarray(t * c, (t + 1) * c);
    const norm = Math.hypot(...v);
    return Array.from(v, (e) => e / norm);
  };
  const best = src.map((s) => {
    const a = unit(s);
    let score = -Infinity, slot = 0;
    dst.forEach((d, j) => {
      const b = unit(d);
      const dot = a.reduce((acc, e, k) => acc + e * b[k], 0);
      if (dot > score) { score = dot; slot = j; }
    });
    return { s, score: score - (penalty ? penalty[s] : 0), slot };
  });
  const order = best.map((b, i) => i).sort((p, q) => best[q].score - best[p].score || p - q);
  const merged = order.slice(0, r).map((i) => best[i]);
  const rows = new Map<number, Float32Array>(); // token -> merged row
  const counts = new Map<number, number>();
  for (const d of dst) { rows.set(d, Float32Array.from(x.subarray(d * c, (d + 1) * c))); counts.set(d, 1); }
  for (const m of merged) {
    const d = dst[m.slot];
    const row = rows.get(d)!;
    for (let k = 0; k < c; k++) row[k] += x[m.s * c + k];
    counts.set(d, counts.get(d)! + 1);
  }
  for (const d of dst) rows.get(d)!.forEach((v, k, a) => { a[k] = v / counts.get(d)!; });
  for (const i of order.slice(r)) rows.set(best[i].s, Float32Array.from(x.subarray(best[i].s * c, (best[i].s + 1) * c)));
  const mergedInto = new Map(merged.map((m) => [m.s, dst[m.slot]]));
  return { rows, mergedInto, mergedTokens: new Set(merged.map((m) => m.s)) };
}

function mergeGraph(h: number, w: number, c: number, r: number, offsetsBatch: number) {
  const g = new GraphBuilder({ name: 'tome' });
  const metric = g.input('metric', 'float32', ['batch', h * w, c]);
  const x = g.input('x', 'float32', ['batch', h * w, c]);
  const offsets = g.input('offsets', 'int64', [offsetsBatch, (h / 2) * (w / 2)]);
  const partition = partitionFromOffsets(g, offsets, h, w, 2, 2);
  const plan = bipartiteSoftMatching(g, metric, c, partition, h * w, (h / 2) * (w / 2), { r });
  const merged = mergeWithPlan(g, plan, x, c);
  g.output(merged, 'merged', 'float32');
  g.output(unmergeWithPlan(g, plan, merged, c), 'round_trip', 'float32');
  g.output(plan.keptTokens, 'kept', 'int64');
  g.output(g.expand(plan.dstTokens, g.constInt64([2, (h / 2) * (w / 2)])), 'dst', 'int64');
  return g.build();
}

describe('in-graph token merging', () => {
  it('matches tomesd bipartite_soft_matching (merged rows by token, and unmerge(merge(x)))', async () => {
    const c = loadCase('tomesd_merge.safetensors');
    const metric = c.float('input.metric');
    const x = c.float('input.x');
    const out = await runModel(mergeGraph(8, 8, 16, 24, 1), {
      metric: f32(metric.data, metric.dims), x: f32(x.data, x.dims), offsets: i64(new BigInt64Array(16), [1, 16]),
    });
    expect(out.merged.dims).toEqual([2, 40, 16]);
    // rows sorted by the token each holds = tomesd's merged_canonical
    const rowTokens = (b: number) => [...Array.from(out.kept.data as BigInt64Array).slice(b * 24, b * 24 + 24), ...Array.from(out.dst.data as BigInt64Array).slice(b * 16, b * 16 + 16)].map(Number);
    const canonical = new Float32Array(2 * 40 * 16);
    for (let b = 0; b < 2; b++) {
      const tokens = rowTokens(b);
      const order = tokens.map((t, i) => [t, i]).sort((p, q) => p[0] - q[0]);
      order.forEach(([, row], k) => canonical.set((out.merged.data as Float32Array).subarray((b * 40 + row) * 16, (b * 40 + row + 1) * 16), (b * 40 + k) * 16));
    }
    expect(maxAbsDiff(canonical, c.float('output.merged_canonical').data)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(out.round_trip.data as Float32Array, c.float('output.unmerged_merged').data)).toBeLessThanOrEqual(1e-5);
  });

  it('follows per-frame destination offsets like a plain reference merge', async () => {
    const [h, w, ch, r] = [6, 8, 5, 12];
    const n = h * w;
    const metric = Float32Array.from({ length: 2 * n * ch }, (_, i) => Math.sin(i * 1.37) + 0.3 * Math.cos(i * 0.11));
    const x = Float32Array.from({ length: 2 * n * ch }, (_, i) => Math.cos(i * 0.71));
    const offsets = [[3, 1, 0, 2, 2, 1, 0, 3, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3]];
    const out = await runModel(mergeGraph(h, w, ch, r, 2), {
      metric: f32(metric, [2, n, ch]), x: f32(x, [2, n, ch]), offsets: i64(BigInt64Array.from(offsets.flat().map(BigInt)), [2, 12]),
    });
    for (let b = 0; b < 2; b++) {
      const dst: number[] = [];
      for (let i = 0; i < h / 2; i++) for (let j = 0; j < w / 2; j++) {
        const k = offsets[b][i * (w / 2) + j];
        dst.push((i * 2 + Math.floor(k / 2)) * w + j * 2 + (k % 2));
      }
      dst.sort((p, q) => p - q);
      const src = Array.from({ length: n }, (_, t) => t).filter((t) => !dst.includes(t));
      const ref = referenceMerge(metric.subarray(b * n * ch, (b + 1) * n * ch), x.subarray(b * n * ch, (b + 1) * n * ch), n, ch, dst, src, r);
      const kept = Array.from(out.kept.data as BigInt64Array).slice(b * (n - 12 - r), (b + 1) * (n - 12 - r)).map(Number);
      const rows = [...kept, ...dst];
      rows.forEach((token, row) => {
        const got = (out.merged.data as Float32Array).subarray((b * (n - r) + row) * ch, (b * (n - r) + row + 1) * ch);
        expect(maxAbsDiff(got, ref.rows.get(token)!)).toBeLessThanOrEqual(1e-5);
      });
    }
  });
});

describe('ToMe in the UNet', () => {
  const unetDir = join(REFERENCE_MODEL_DIR, 'unet');
  const config = loadUNetConfig(join(unetDir, 'config.json'));
  const weights = new SafetensorsWeightSource(join(unetDir, 'diffusion_pytorch_model.safetensors'));
  const c = loadCase('unet_tome.safetensors');
  const sample = c.float('input.sample');
  const ehs = c.float('input.encoder_hidden_states');
  const t = c.int64('input.timestep');
  const feeds = () => ({ sample: f32(sample.data, sample.dims), timestep: i64(t.data, t.dims), encoder_hidden_states: f32(ehs.data, ehs.dims) });

  it('ratio 0.5 with top-left destinations matches tomesd.apply_patch(use_rand=False) within 1e-4', async () => {
    const out = await runModel(buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5 }) }), feeds());
    const err = maxAbsDiff(out.out_sample.data as Float32Array, c.float('output.sample').data);
    console.log(`unet_tome: max abs err ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });

  it('ratio 0 builds the same graph as no merging; a per-level list [0.5] equals ratio 0.5', () => {
    const bytes = (hooks?: ReturnType<typeof tomeHooks>) => Buffer.from(serializeModel(buildUNetGraph(config, weights, hooks ? { hooks } : {})));
    expect(bytes(tomeHooks({ ratio: 0 })).equals(bytes())).toBe(true);
    expect(bytes(tomeHooks({ ratio: [0, 0] })).equals(bytes())).toBe(true);
    expect(bytes(tomeHooks({ ratio: [0.5] })).equals(bytes(tomeHooks({ ratio: 0.5 })))).toBe(true);
    expect(() => tomeHooks({ ratio: [0.5, 1] })).toThrow(/each ratio must be in \[0, 1\)/);
  });

  it('a per-level list merges only the levels it names', () => {
    const sitesMerged: string[] = [];
    const hooks = tomeHooks({ ratio: [0, 0.25] });
    buildUNetGraph(config, weights, {
      hooks: { tokenMerge: (g, site, x) => { const m = hooks.tokenMerge!(g, site, x); if (m) sitesMerged.push(`${site.name}:${m.mergedTokens}`); return m; } },
    });
    expect(sitesMerged).toEqual(['mid_block.attentions.0.transformer_blocks.0.attn1:192']); // level 1 is 16x16: 256 - r (64)
  });

  it('exported plans fed back as inputs reproduce the run (pairing), and input offsets of 0 equal top-left', async () => {
    const exported = await runModel(buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5, plans: 'export' }) }), feeds());
    const site = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1';
    const names = planTensorNames(site);
    expect(exported[names.mergedTokens].dims).toEqual([2, 512]);
    const imported = buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5, plans: 'import' }) });
    const planFeeds: Record<string, ReturnType<typeof i64>> = {};
    for (const input of imported.inputs.filter((i) => i.name.includes('.tome.'))) planFeeds[input.name] = exported[input.name] as ReturnType<typeof i64>;
    expect(Object.keys(planFeeds).length).toBe(5 * 4); // 5 merged blocks at 32x32 (2 down, 3 up) x 4 tensors
    // same inputs + the exported plans: the imported graph must reproduce the exporting run
    const pairedOut = await runModel(imported, { ...feeds(), ...planFeeds });
    expect(maxAbsDiff(pairedOut.out_sample.data as Float32Array, exported.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-6);

    const withInputs = buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5, destinations: 'input' }) });
    const offsetFeeds: Record<string, ReturnType<typeof i64>> = {};
    for (const input of withInputs.inputs.filter((i) => i.name.endsWith('dst_offsets'))) offsetFeeds[input.name] = i64(new BigInt64Array(256), [1, 256]);
    const zeroOffsets = await runModel(withInputs, { ...feeds(), ...offsetFeeds });
    expect(maxAbsDiff(zeroOffsets.out_sample.data as Float32Array, exported.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });

  it('a custom score adjustment decides which sources merge', async () => {
    // push every source in the top 8 rows to the front: with r = 512 of 768 sources they must all be merged
    const model = buildUNetGraph(config, weights, {
      hooks: tomeHooks({
        ratio: 0.5, plans: 'export',
        adjustScores: (g, site, scores, src) => g.add(scores, g.mul(g.cast(g.op1('Less', [src, g.constInt64([8 * site.width], [])]), 'float32'), g.scalar(100))),
      }),
    });
    const out = await runModel(model, feeds());
    const merged = new Set(Array.from(out[planTensorNames('down_blocks.0.attentions.0.transformer_blocks.0.attn1').mergedTokens].data as BigInt64Array).slice(0, 512).map(Number));
    const topSources = Array.from({ length: 8 * 32 }, (_, t) => t).filter((t) => !(Math.floor(t / 32) % 2 === 0 && t % 2 === 0));
    expect(topSources.length).toBe(192);
    expect(topSources.filter((t) => !merged.has(t))).toEqual([]);
  });

  it('object-centric scores keep salient sources unmerged', async () => {
    const saliency = new Float32Array(1024);
    for (let row = 8; row < 24; row++) for (let col = 8; col < 24; col++) saliency[row * 32 + col] = 1;
    const model = buildUNetGraph(config, weights, { hooks: tomeHooks({ ratio: 0.5, plans: 'export', objectCentric: { beta: 10 } }) });
    const out = await runModel(model, { ...feeds(), 'tome.saliency.l0': f32(saliency, [1, 1024]) });
    const merged = Array.from(out[planTensorNames('down_blocks.0.attentions.0.transformer_blocks.0.attn1').mergedTokens].data as BigInt64Array).map(Number);
    // 768 sources, 192 of them salient, 512 merged: all 576 background sources can absorb the merges
    expect(merged.filter((tok) => saliency[tok] === 1)).toEqual([]);
  });
});

describe('clip-scope (temporal) ToMe in the pseudo-3D UNet', () => {
  const unetDir = join(REFERENCE_MODEL_DIR, 'unet');
  const config = loadUNetConfig(join(unetDir, 'config.json'));
  const weights = new SafetensorsWeightSource(join(unetDir, 'diffusion_pytorch_model.safetensors'));
  // 4 frames of a 16x16 latent: level 0 (32 channels) attends per frame, level 1 (the 64-channel mid block, 8x8
  // tokens) takes keys from the middle frame, so clip scope applies there.
  const F = 4, H = 16, W = 16, N1 = 64;
  const noise = (count: number, seed: number) => Float32Array.from({ length: count }, (_, i) => (Math.sin((i + seed) * 12.9898 + 78.233) * 43758.5453) % 1);
  const text = noise(77 * 32, 5);
  const feedsFor = (sample: Float32Array) => ({
    sample: f32(sample, [F, 4, H, W]),
    timestep: i64(BigInt64Array.of(500n), []),
    // the same prompt for every frame: frames that are equal stay equal through the UNet
    encoder_hidden_states: f32(Float32Array.from({ length: F * text.length }, (_, i) => text[i % text.length]), [F, 77, 32]),
  });
  const identical = () => { const one = noise(4 * H * W, 1); return Float32Array.from({ length: F * one.length }, (_, i) => one[i % one.length]); };
  const build = (hooks?: ReturnType<typeof tomeHooks>) => buildUNetGraph(config, weights, { height: H, width: W, frames: F, ...(hooks ? { hooks } : {}) });
  const midSite = 'mid_block.attentions.0.transformer_blocks.0.attn1';

  it('ratio 0 builds the same graph as no merging, for both targets', () => {
    const bytes = (hooks?: ReturnType<typeof tomeHooks>) => Buffer.from(serializeModel(build(hooks)));
    expect(bytes(tomeHooks({ ratio: 0, scope: 'clip' })).equals(bytes())).toBe(true);
    expect(bytes(tomeHooks({ ratio: [0, 0], scope: 'clip', st: 4, target: 'kv' })).equals(bytes())).toBe(true);
  });

  it('with identical frames, clip merging at its maximum ratio (st = F, 1x1 cells: 1 - 1/F) changes the output by < 1e-5; different frames by far more', async () => {
    const base = (await runModel(build(), feedsFor(identical()))).out_sample.data as Float32Array;
    const maxRatio = 1 - 1 / F;
    for (const target of ['all', 'kv'] as const) {
      const out = await runModel(build(tomeHooks({ ratio: [0, maxRatio], scope: 'clip', st: F, sx: 1, sy: 1, target, plans: 'export' })), feedsFor(identical()));
      // every source is merged: one token per spatial position is left of the 4 frames
      expect(out[planTensorNames(midSite).mergedTokens].dims).toEqual([1, F * N1 - N1]);
      const err = maxAbsDiff(out.out_sample.data as Float32Array, base);
      console.log(`identical frames, clip ${target} at ratio ${maxRatio}: max abs change ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
    }
    // the bound is not vacuous: on four different frames the same merging changes the output by far more
    const different = noise(F * 4 * H * W, 9);
    const plain = (await runModel(build(), feedsFor(different))).out_sample.data as Float32Array;
    const merged = (await runModel(build(tomeHooks({ ratio: [0, maxRatio], scope: 'clip', st: F, sx: 1, sy: 1 })), feedsFor(different))).out_sample.data as Float32Array;
    expect(maxAbsDiff(merged, plain)).toBeGreaterThan(1e-2);
  });

  it('merges across frames above the 2-D cell maximum, with one destination per st x sy x sx cell at the fed offsets', async () => {
    const st = 2, cells = (F / st) * (8 / 2) * (8 / 2);
    const offsets = Array.from({ length: cells }, (_, c) => (c * 5 + 3) % 8);
    const out = await runModel(build(tomeHooks({ ratio: [0, 0.85], scope: 'clip', st, destinations: 'input', plans: 'export' })), {
      ...feedsFor(noise(F * 4 * H * W, 3)),
      [`${midSite}.tome.dst_offsets`]: i64(BigInt64Array.from(offsets.map(BigInt)), [1, cells]),
    });
    const names = planTensorNames(midSite);
    const dst = Array.from(out[names.dstTokens].data as BigInt64Array, Number);
    // host computation of the cell destinations: frame block k, cell row i, cell column j, offset o
    const expected: number[] = [];
    for (let k = 0; k < F / st; k++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
      const o = offsets[(k * 4 + i) * 4 + j];
      expected.push(((k * st + Math.floor(o / 4)) * 8 + i * 2 + Math.floor((o % 4) / 2)) * 8 + j * 2 + (o % 2));
    }
    expect(dst).toEqual(expected.sort((a, b) => a - b));
    const merged = Array.from(out[names.mergedTokens].data as BigInt64Array, Number);
    const slots = Array.from(out[names.dstSlot].data as BigInt64Array, Number);
    expect(merged.length).toBe(Math.floor(0.85 * F * N1)); // 217 of 256: frame scope with 2x2 cells stops at 192
    const across = merged.filter((token, k) => Math.floor(token / N1) !== Math.floor(dst[slots[k]] / N1)).length;
    expect(across).toBeGreaterThan(0);
  });

  it.each(['all', 'kv'] as const)('exported clip plans (%s) fed back as inputs reproduce the run (pairing)', async (target) => {
    const feeds = feedsFor(noise(F * 4 * H * W, 4));
    const exported = await runModel(build(tomeHooks({ ratio: [0.5, 0.75], scope: 'clip', target, plans: 'export' })), feeds);
    const imported = build(tomeHooks({ ratio: [0.5, 0.75], scope: 'clip', target, plans: 'import' }));
    const planFeeds: Record<string, ReturnType<typeof i64>> = {};
    for (const input of imported.inputs.filter((i) => i.name.includes('.tome.'))) planFeeds[input.name] = exported[input.name] as ReturnType<typeof i64>;
    expect(exported[planTensorNames(midSite).mergedTokens].dims).toEqual([1, 192]); // one clip row: 0.75 of 4 x 64 tokens
    const paired = await runModel(imported, { ...feeds, ...planFeeds });
    expect(maxAbsDiff(paired.out_sample.data as Float32Array, exported.out_sample.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });

  it('keys/values-only merging keeps full-resolution query rows; full merging attends within the merged clip', () => {
    const seen: Record<string, string> = {};
    for (const target of ['all', 'kv'] as const) {
      buildUNetGraph(config, weights, {
        height: H, width: W, frames: F,
        hooks: combineHooks(tomeHooks({ ratio: [0, 0.75], scope: 'clip', target }), {
          wantsProbabilities: (site) => site.name === midSite,
          onProbabilities: (_g, site, probs) => { seen[target] = `${site.frames}x${site.queryTokens}x${site.keyTokens}`; return probs; },
        }),
      });
    }
    expect(seen).toEqual({ all: '1x64x64', kv: '4x64x64' }); // all: 256 clip tokens -> 64 merged rows and keys; kv: 64 rows per frame
  });
});
