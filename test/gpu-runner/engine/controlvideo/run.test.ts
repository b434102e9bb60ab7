import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditRequest } from '../../../../shared/edit-request.ts';
import { runControlVideo } from '../../../../gpu-runner/engine/controlvideo/run.ts';
import { EngineError, loadEditModel, resolveOptions, type EditModel } from '../../../../gpu-runner/engine/index.ts';
import { CONTROLNET_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { ENGINE_TEST_CACHE } from '../support/model.ts';

// The ControlVideo editor end to end on the tiny reference model and ControlNet: 32 px frames (16x16 latents, the
// ControlNet's maps at 128 px), two sampler steps.
const W = 32;
let model: EditModel;
beforeAll(async () => {
  model = await loadEditModel(REFERENCE_MODEL_DIR, { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE, controlnetDir: CONTROLNET_DIR });
}, 120_000);
afterAll(async () => {
  await model?.dispose();
});

/** An RGB frame with a bright square at `offset` (so canny-like maps and frames differ per frame). */
function frame(offset: number): Uint8Array {
  const out = new Uint8Array(W * W * 3);
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const inside = x >= 4 + offset && x < 16 + offset && y >= 8 && y < 20;
      out.fill(inside ? 230 : 20 + ((x * 5 + y * 3) % 40), (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  }
  return out;
}

const clip = (offsets: number[]) => ({ frames: offsets.map(frame), width: W, height: W });

function options(request: Partial<EditRequest> = {}) {
  return resolveOptions({ sourcePrompt: 'a grey box', targetPrompt: 'a red box', preset: 'controlvideo', sampler: { steps: 2 }, seed: 7, ...request } as EditRequest);
}

async function edit(offsets: number[], request: Partial<EditRequest> = {}, extra: { window?: number; mask?: Float32Array } = {}) {
  const frames = clip(offsets);
  return runControlVideo({ input: frames, control: frames, options: options(request), model, ...extra });
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const perFrame = 4 * 16 * 16;

describe('the ControlVideo editor', () => {
  it('the same seed gives byte-identical frames; another seed does not', async () => {
    const a = await edit([0, 4, 8]);
    const b = await edit([0, 4, 8]);
    const c = await edit([0, 4, 8], { seed: 8 });
    expect(a.frames).toHaveLength(3);
    expect(a.frames.every((f, i) => Buffer.from(f).equals(Buffer.from(b.frames[i])))).toBe(true);
    expect(same(a.latents.edited, c.latents.edited)).toBe(false);
    expect(a.report).toMatchObject({ preset: 'controlvideo', ranAs: 'controlvideo', controller: null, unetCalls: 2, frames: 3 });
  }, 120_000);

  it('merge ratio 0 is the unmerged run, byte for byte', async () => {
    const plain = await edit([0, 4, 8]);
    const zero = await edit([0, 4, 8], { tome: { enabled: true, ratio: [0], scope: 'clip' } });
    expect(same(plain.latents.edited, zero.latents.edited)).toBe(true);
  }, 120_000);

  it('clip-scope merging across time loses nothing measurable on a clip of identical frames', async () => {
    // st = 2, 1x1 cells: every token's destination is the same token of the other frame, identical on this clip
    const merged = await edit([4, 4], { tome: { enabled: true, ratio: [0.5], scope: 'clip', st: 2, sx: 1, sy: 1 } });
    const plain = await edit([4, 4]);
    expect(merged.report.tome?.mergedLayers).toBeGreaterThan(0);
    expect(maxAbsDiff(merged.latents.edited, plain.latents.edited)).toBeLessThanOrEqual(1e-4);
    // on different frames the same merging changes the result (the check can fail)
    const mergedMoving = await edit([0, 8], { tome: { enabled: true, ratio: [0.5], scope: 'clip', st: 2, sx: 1, sy: 1 } });
    const plainMoving = await edit([0, 8]);
    expect(maxAbsDiff(mergedMoving.latents.edited, plainMoving.latents.edited)).toBeGreaterThan(1e-3);
  }, 180_000);

  it('the hierarchical sampler on a clip no longer than one window is the plain sampler', async () => {
    const plain = await edit([0, 2, 4, 6, 8]);
    const windowed = await edit([0, 2, 4, 6, 8], {}, { window: 5 });
    expect(same(plain.latents.edited, windowed.latents.edited)).toBe(true);
    expect(windowed.report.note).toBeUndefined();
  }, 120_000);

  it('the hierarchical sampler: key frames sample as a clip of their own, the frames between follow them', async () => {
    const offsets = [0, 2, 4, 6, 8];
    const long = await edit(offsets, {}, { window: 3 }); // key frames 0, 2, 4; runs [1] and [3]
    const keysAlone = await edit([0, 4, 8]);
    for (const [k, f] of [[0, 0], [1, 2], [2, 4]]) {
      expect(same(long.latents.edited.subarray(f * perFrame, (f + 1) * perFrame), keysAlone.latents.edited.subarray(k * perFrame, (k + 1) * perFrame))).toBe(true);
    }
    expect(long.report.note).toMatch(/hierarchical sampler \(3 key frames, then 2 in-between runs\)/);
    // one pass of 2 steps for the key frames, then 2 steps for each run
    expect(long.report.unetCalls).toBe(6);
    // an in-between frame differs from the plain one-pass sampler's (it attends to its key frames only)
    const plain = await edit(offsets);
    expect(maxAbsDiff(long.latents.edited.subarray(perFrame, 2 * perFrame), plain.latents.edited.subarray(perFrame, 2 * perFrame))).toBeGreaterThan(1e-4);
  }, 180_000);

  it('controlvideo-ocd with a mask video: the object crop runs every decoupled step, the background the coarse ones', async () => {
    const mask = new Float32Array(3 * W * W);
    for (let f = 0; f < 3; f++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) mask[(f * W + y) * W + x] = 1;
    const result = await edit([0, 0, 0], { preset: 'controlvideo-ocd', sampler: { steps: 4 }, ocd: { mask: 'video', dilate: 0 } }, { mask });
    expect(result.report.ranAs).toBe('controlvideo-ocd');
    expect(result.report.mask).toMatchObject({ source: 'video' });
    expect(result.report.mask?.box).toEqual({ top: 0, left: 0, height: 8, width: 8 });
    // decoupled phase: 2 crop steps + 1 coarse background step, then 2 joint steps
    expect(result.report.unetCalls).toBe(5);
  }, 180_000);

  it("controlvideo-ocd with the 'auto' mask reads the object words' cross-attention in one probe call", async () => {
    const result = await edit([0, 4, 8], { preset: 'controlvideo-ocd', sampler: { steps: 4 } });
    expect(result.report.mask?.source).toBe('prompt-difference');
    expect(result.report.mask?.words).toEqual(['red']);
    expect(result.report.unetCalls).toBeGreaterThanOrEqual(5);
  }, 180_000);

  it('a model without a ControlNet is refused with controlnet_missing', async () => {
    const bare = { ...model, controlnet: undefined } as EditModel;
    const frames = clip([0]);
    await expect(runControlVideo({ input: frames, control: frames, options: options(), model: bare })).rejects.toMatchObject({ code: 'controlnet_missing' });
  });

  it('a folder that is not a ControlNet is refused with controlnet_invalid', async () => {
    const load = loadEditModel(REFERENCE_MODEL_DIR, { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE, controlnetDir: REFERENCE_MODEL_DIR });
    await expect(load).rejects.toBeInstanceOf(EngineError);
    await expect(load).rejects.toMatchObject({ code: 'controlnet_invalid' });
  });
});
