/**
 * Object-centric sampling checked on values, on SD1.5's block topology in miniature (four levels, 64x64 latents):
 * the engine's result with a PARTIAL mask must equal an independent computation of the method (method.md §5)
 * written here from plain UNet graphs and the schedulers: crop -> foreground steps -> paste -> feathered blend with
 * the background -> solver restart -> joint steps. Fusion is switched off (its gates closed) so the reference needs
 * no attention store; the crop's map handling is covered by the restrictMap tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditOptions, EditRequest } from '../../../shared/edit-request.ts';
import { saveModel } from '../../../gpu-runner/graph/index.ts';
import { loadEditModel } from '../../../gpu-runner/engine/load-model.ts';
import type { EditModel, UNetRunner, UNetVariant } from '../../../gpu-runner/engine/model.ts';
import { runEdit, type RunEditResult } from '../../../gpu-runner/engine/pipeline.ts';
import { resolveOptions } from '../../../gpu-runner/engine/presets.ts';
import { loadModelFolder, type ModelFolder } from '../../../gpu-runner/models/bundle/model-folder.ts';
import { parseUNetConfig } from '../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../gpu-runner/models/unet/unet.ts';
import { createSession, type ModelSession, runSession } from '../../../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32 } from '../../../gpu-runner/runtime/tensors.ts';
import { DDIMInverseScheduler } from '../../../gpu-runner/schedulers/ddim-inverse.ts';
import { DDIMScheduler } from '../../../gpu-runner/schedulers/ddim.ts';
import { DPMSolverMultistepScheduler } from '../../../gpu-runner/schedulers/dpm-solver-multistep.ts';
import { ENGINE_TEST_CACHE, topologyBundleDir } from './support/model.ts';
import { maxAbsDiff } from './support/safetensors.ts';

const F = 2, W = 128, H = 128, STEPS = 4;
const h = 64, w = 64, C = 4;
let model: EditModel;
let folder: ModelFolder;
const graphDir = mkdtempSync(join(tmpdir(), 'ocs-values-'));
const sessions: ModelSession[] = [];

/** A clip with a bright moving square on a gradient. */
function clip(): Uint8Array[] {
  return Array.from({ length: F }, (_, f) => {
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const inside = x >= 44 + 4 * f && x < 80 + 4 * f && y >= 52 && y < 76;
      rgb[i] = inside ? 230 : Math.round((x / W) * 120);
      rgb[i + 1] = inside ? 60 : Math.round((y / H) * 120);
      rgb[i + 2] = inside ? 40 : 90;
    }
    return rgb;
  });
}

/** Mask pixels x 40..87, y 48..79 -> latent cols 20..43, rows 24..39 (2x2 pooling, all full). */
function maskVideo(): Float32Array {
  const m = new Float32Array(F * H * W);
  for (let f = 0; f < F; f++) for (let y = 48; y < 80; y++) for (let x = 40; x < 88; x++) m[(f * H + y) * W + x] = 1;
  return m;
}

/** The latent mask after dilation by 1: cols 19..44, rows 23..40, per frame. */
function dilatedMask(): Float32Array {
  const m = new Float32Array(F * h * w);
  for (let f = 0; f < F; f++) for (let y = 23; y <= 40; y++) for (let x = 19; x <= 44; x++) m[(f * h + y) * w + x] = 1;
  return m;
}

/** The box: 26 x 18 rounded up to 32 x 24 and centred: cols 16..47, rows 20..43. */
const BOX = { top: 20, left: 16, height: 24, width: 32 };

/** 3x3 box blur with the window clipped at the edges (radius-1 feathering). */
function blur3(m: Float32Array): Float32Array {
  const out = new Float32Array(m.length);
  for (let f = 0; f < F; f++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0, n = 0;
    for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) { s += m[(f * h + yy) * w + xx]; n++; }
    out[(f * h + y) * w + x] = s / n;
  }
  return out;
}

function crop(z: Float32Array): Float32Array {
  const out = new Float32Array(F * C * BOX.height * BOX.width);
  for (let fc = 0; fc < F * C; fc++) for (let y = 0; y < BOX.height; y++) for (let x = 0; x < BOX.width; x++) {
    out[(fc * BOX.height + y) * BOX.width + x] = z[(fc * h + BOX.top + y) * w + BOX.left + x];
  }
  return out;
}

/** soft * (background with the crop pasted in) + (1 - soft) * background. */
function pasteAndBlend(background: Float32Array, foreground: Float32Array, soft: Float32Array): Float32Array {
  const out = Float32Array.from(background);
  for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) for (let y = 0; y < BOX.height; y++) for (let x = 0; x < BOX.width; x++) {
    const i = ((f * C + c) * h + BOX.top + y) * w + BOX.left + x;
    const m = soft[(f * h + BOX.top + y) * w + BOX.left + x];
    out[i] = m * foreground[((f * C + c) * BOX.height + y) * BOX.width + x] + (1 - m) * background[i];
  }
  return out;
}

/** A plain pseudo-3D UNet (no hooks) of the options' shape, as an ORT session. */
async function plainUNet(options: EditOptions, height: number, width: number): Promise<(sample: Float32Array, t: number, context: Float32Array, batch: number) => Promise<Float32Array>> {
  const config = parseUNetConfig(folder.unet.config);
  const graph = buildUNetGraph(config, folder.unet.weights, { frames: F, height, width, groupNorm: options.crossFrame.groupNorm });
  const session = await createSession(saveModel(graph, join(graphDir, `${height}x${width}`), 'unet'));
  sessions.push(session);
  return async (sample, t, context, batch) => {
    const out = await runSession(session, {
      sample: float32Tensor(sample, [batch, C, height, width]),
      timestep: int64Tensor([t], []),
      encoder_hidden_states: float32Tensor(context, [batch, 77, context.length / (batch * 77)]),
    });
    return tensorToFloat32(out.out_sample);
  };
}

async function contexts(options: EditOptions): Promise<{ source: Float32Array; guided: Float32Array }> {
  const ids = [options.negativePrompt, options.sourcePrompt, options.targetPrompt].map((p) => model.tokenizer.encodeForModel(p).ids);
  const e = await model.encodeText(ids);
  const row = e.data.length / 3;
  const repeat = (rows: Float32Array[]) => { const out = new Float32Array(rows.length * row); rows.forEach((r, i) => out.set(r, i * row)); return out; };
  const neg = e.data.subarray(0, row), src = e.data.subarray(row, 2 * row), tgt = e.data.subarray(2 * row);
  return { source: repeat(Array.from({ length: F }, () => src)), guided: repeat([...Array.from({ length: F }, () => neg), ...Array.from({ length: F }, () => tgt)]) };
}

function guide(out: Float32Array, scale: number): Float32Array {
  const half = out.length / 2;
  return Float32Array.from({ length: half }, (_, i) => out[i] + scale * (out[half + i] - out[i]));
}

function twice(z: Float32Array): Float32Array {
  const out = new Float32Array(2 * z.length);
  out.set(z);
  out.set(z, z.length);
  return out;
}

/** A fresh editing solver: DPM-Solver++ 2M or DDIM over STEPS steps. */
function solver(kind: EditOptions['sampler']['kind']): { timesteps: readonly number[]; step: (eps: Float32Array, t: number, z: Float32Array) => Float32Array } {
  const config = folder.scheduler.config;
  if (kind === 'ddim') {
    const ddim = DDIMScheduler.fromConfig(config);
    ddim.setTimesteps(STEPS);
    return { timesteps: ddim.timesteps, step: (eps, t, z) => ddim.step(eps, t, z).prevSample };
  }
  const dpm = DPMSolverMultistepScheduler.fromConfig({ ...(config as object), algorithm_type: 'dpmsolver++', solver_order: 2 });
  dpm.setTimesteps(STEPS);
  return { timesteps: dpm.timesteps, step: (eps, t, z) => dpm.step(eps, t, z).prevSample };
}

/** DDIM (eta 0) from timestep `from` straight to `to` with one noise prediction (DDIM paper eq. 12). */
function ddimJump(eps: Float32Array, from: number, to: number, z: Float32Array): Float32Array {
  const alphas = DDIMScheduler.fromConfig(folder.scheduler.config).schedule.alphasCumprod;
  const a = alphas[from], b = alphas[to];
  return z.map((v, i) => Math.sqrt(b) * ((v - Math.sqrt(1 - a) * eps[i]) / Math.sqrt(a)) + Math.sqrt(1 - b) * eps[i]);
}

/**
 * The method by hand, with the feathered and with a hard blend. Background 'inversion': the inversion latent at
 * step K; 'coarse' (DDIM only here): one guided full-frame step at timesteps[0] jumping straight to timesteps[K].
 */
async function referenceOCS(options: EditOptions, z0: Float32Array): Promise<{ feathered: Float32Array; hard: Float32Array }> {
  const config = folder.scheduler.config;
  const kind = options.sampler.kind;
  const full = await plainUNet(options, h, w);
  const cropped = await plainUNet(options, BOX.height, BOX.width);
  const { source, guided } = await contexts(options);
  const g = options.sampler.guidance;
  const timesteps = solver(kind).timesteps;
  // DDIM inversion paired with the editing timesteps: after j+1 steps the latent sits at timesteps[N-1-j]
  const inverse = DDIMInverseScheduler.fromConfig(config);
  if (kind === 'ddim') inverse.setTimesteps(STEPS);
  else inverse.setTimestepsForEditing(timesteps);
  expect([...inverse.timesteps].reverse()).toEqual([...timesteps]);
  const atIndex: Float32Array[] = new Array(STEPS);
  let z = z0;
  for (let j = 0; j < STEPS; j++) {
    const t = inverse.timesteps[j];
    z = inverse.step(await full(z, t, source, F), t, z).prevSample;
    atIndex[STEPS - 1 - j] = z;
  }
  const K = Math.round(options.ocd.gamma * STEPS);
  // foreground: K steps on the crop
  const fg = solver(kind);
  let zFg = crop(atIndex[0]);
  for (let c = 0; c < K; c++) zFg = fg.step(guide(await cropped(twice(zFg), timesteps[c], guided, 2 * F), g), timesteps[c], zFg);
  // background
  let zBg = atIndex[K];
  if (options.ocd.background === 'coarse') {
    expect(kind).toBe('ddim');
    zBg = ddimJump(guide(await full(twice(atIndex[0]), timesteps[0], guided, 2 * F), g), timesteps[0], timesteps[K], atIndex[0]);
  }
  const finish = async (soft: Float32Array) => {
    // paste into the background and blend
    let zj = pasteAndBlend(zBg, zFg, soft);
    // joint: a fresh solver (no history: first order at step K)
    const joint = solver(kind);
    for (let c = K; c < STEPS; c++) zj = joint.step(guide(await full(twice(zj), timesteps[c], guided, 2 * F), g), timesteps[c], zj);
    return zj;
  };
  return { feathered: await finish(blur3(dilatedMask())), hard: await finish(dilatedMask()) };
}

const base: EditRequest = {
  preset: 'ocd', sourcePrompt: 'a red box on a road', targetPrompt: 'a blue ball on a road', frames: { count: F }, sampler: { steps: STEPS },
  tome: { enabled: false }, fusion: { crossReplaceSteps: 0, selfReplaceSteps: 0 },
  ocd: { mask: 'video', background: 'inversion', gamma: 0.5, dilate: 1 },
};

/** Records every UNet call's graph size and timestep, and every variant's cross-frame and GroupNorm choices. */
function spied(inner: EditModel, calls: { height: number; width: number; t: number }[], variants: Pick<UNetVariant, 'crossFrameMinChannels' | 'groupNorm'>[] = []): EditModel {
  return {
    ...inner,
    facts: inner.facts,
    tokenizer: inner.tokenizer,
    encodeText: (ids) => inner.encodeText(ids),
    encodeImages: (x) => inner.encodeImages(x),
    decodeLatents: (x) => inner.decodeLatents(x),
    dispose: () => inner.dispose(),
    async unet(variant: UNetVariant): Promise<UNetRunner> {
      variants.push({ crossFrameMinChannels: variant.crossFrameMinChannels, groupNorm: variant.groupNorm });
      const runner = await inner.unet(variant);
      return {
        ...runner,
        meta: runner.meta,
        run: async (feeds) => {
          const t = feeds.timestep as { int64: readonly number[] };
          calls.push({ height: variant.height, width: variant.width, t: Number(t.int64[0]) });
          return runner.run(feeds);
        },
      };
    },
  };
}

beforeAll(async () => {
  const dir = topologyBundleDir();
  model = await loadEditModel(dir, { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
  folder = loadModelFolder(dir);
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.dispose()));
  await model?.dispose();
  folder?.dispose();
  rmSync(graphDir, { recursive: true, force: true });
});

describe('object-centric sampling on values (SD1.5 topology in miniature, partial mask)', () => {
  it('equals crop -> foreground steps -> paste -> feathered blend -> restart -> joint steps computed by hand', async () => {
    const options = resolveOptions(base, { hasMaskVideo: true });
    const result: RunEditResult = await runEdit({ input: { frames: clip(), width: W, height: H }, mask: maskVideo(), options, model });
    expect(result.report.ranAs).toBe('ocd');
    expect(result.report.mask?.box).toEqual(BOX);
    const expected = await referenceOCS(options, result.latents.source);
    const error = maxAbsDiff(result.latents.edited, expected.feathered);
    expect(error).toBeLessThan(1e-3);
    // the comparison can tell: the same runs blended with a hard (unfeathered) mask are far from the engine's result
    expect(maxAbsDiff(result.latents.edited, expected.hard)).toBeGreaterThan(20 * Math.max(error, 1e-4));
  }, 600_000);

  it('the coarse background runs on timesteps[backgroundSteps] at full size and jumps to timesteps[K]; calls and values', async () => {
    const calls: { height: number; width: number; t: number }[] = [];
    const variants: Pick<UNetVariant, 'crossFrameMinChannels' | 'groupNorm'>[] = [];
    const options = resolveOptions({ ...base, sampler: { kind: 'ddim', steps: STEPS }, ocd: { ...base.ocd, background: 'coarse', phi: 0.5 } }, { hasMaskVideo: true });
    const result = await runEdit({ input: { frames: clip(), width: W, height: H }, mask: maskVideo(), options, model: spied(model, calls, variants) });
    expect(variants.length).toBeGreaterThan(0);
    // the options' cross-frame width (null: the model's default) and GroupNorm reach every graph variant
    expect(variants.every((v) => v.crossFrameMinChannels === undefined && v.groupNorm === options.crossFrame.groupNorm)).toBe(true);
    const expected = await referenceOCS(options, result.latents.source);
    expect(maxAbsDiff(result.latents.edited, expected.feathered)).toBeLessThan(1e-3);
    const ddim = DDIMScheduler.fromConfig(folder.scheduler.config);
    ddim.setTimesteps(STEPS);
    const ts = ddim.timesteps;
    // 4 inversion calls (ascending), 2 crop calls (ts[0], ts[1]), background ceil(0.5 * 2) = 1 call at ts[0], 2 joint calls
    expect(calls).toEqual([
      ...[...ts].reverse().map((t) => ({ height: h, width: w, t })),
      { height: BOX.height, width: BOX.width, t: ts[0] },
      { height: BOX.height, width: BOX.width, t: ts[1] },
      { height: h, width: w, t: ts[0] },
      { height: h, width: w, t: ts[2] },
      { height: h, width: w, t: ts[3] },
    ]);
  }, 600_000);
});
