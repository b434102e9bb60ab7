/**
 * FateZero's own `test_fatezero` on the tiny reference model (test/fixtures/reference/fatezero-cases, see its
 * README) reproduced end to end through the `fatezero` preset: the engine is called directly because the cases are
 * 64x64, under the API's size minimum. Fusion switched off must land far from the reference, so the agreement is
 * not vacuous. Slow (about 14 GB of spilled maps and ~15 min per fused run on 2 shared cores): run with
 * `npm run test:slow`, not part of `npm test`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EditRequest } from '../../../shared/edit-request.ts';
import { loadEditModel } from '../../../gpu-runner/engine/load-model.ts';
import type { EditModel } from '../../../gpu-runner/engine/model.ts';
import { runEdit, type RunEditResult } from '../../../gpu-runner/engine/pipeline.ts';
import { resolveOptions } from '../../../gpu-runner/engine/presets.ts';
import { FATEZERO_CASES_DIR, REFERENCE_MODEL_DIR } from '../../support/paths.ts';
import { ENGINE_TEST_CACHE } from './support/model.ts';
import { FATEZERO_CASES, type FateZeroCase, framesFirst } from './support/fatezero-cases.ts';
import { type LoadedTensor, maxAbsDiff, readSafetensors } from './support/safetensors.ts';

let model: EditModel;
// FateZero keeps every map of every step in float32: at 64 px every layer of the tiny UNet is controlled and the
// 32x32 self maps alone are ~1.3 GB per step for 8 frames, so the store spills past a small memory budget.
const spillDir = mkdtempSync(join(tmpdir(), 'fatezero-cases-'));
const STORE_BUDGET = 256 * 2 ** 20;
// minutes of CPU per fused run, and far longer on a machine others share
const CASE_TIMEOUT_MS = 3 * 3600_000;

beforeAll(async () => {
  model = await loadEditModel(REFERENCE_MODEL_DIR, { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(spillDir, { recursive: true, force: true });
});

/** The case's FateZero p2p_config as our knobs, on the fatezero preset. */
function request(c: FateZeroCase, fusion: boolean): EditRequest {
  const p2p = c.fatezero_p2p_config;
  const reweight = Object.fromEntries((p2p.eq_params?.words ?? []).map((w, i) => [w, p2p.eq_params!.values[i]]));
  return {
    preset: 'fatezero',
    sourcePrompt: c.source_prompt,
    targetPrompt: c.target_prompt,
    frames: { count: c.frames },
    sampler: { steps: c.steps, guidance: c.guidance },
    fusion: {
      // without fusion nothing is read back: keep nothing
      store: fusion ? 'memory' : 'auto',
      controller: p2p.is_replace_controller ? 'replace' : 'refine',
      crossReplaceSteps: fusion ? p2p.cross_replace_steps.default_ : 0,
      selfReplaceSteps: fusion ? p2p.self_replace_steps : 0,
      reweight: fusion ? reweight : {},
      blendWords: p2p.blend_words ? { source: p2p.blend_words[0], target: p2p.blend_words[1] } : null,
      blendThreshold: p2p.blend_th?.[0],
    },
  };
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

async function runCase(c: FateZeroCase, tensors: Record<string, LoadedTensor>, fusion: boolean): Promise<RunEditResult> {
  const [F, H, W] = tensors['input.frames'].shape;
  const pixels = tensors['input.frames'].data as number[];
  const frames = Array.from({ length: F }, (_, f) => Uint8Array.from(pixels.slice(f * H * W * 3, (f + 1) * H * W * 3)));
  return runEdit({ input: { frames, width: W, height: H }, options: resolveOptions(request(c, fusion)), model, spillDir, storeBudgetBytes: STORE_BUDGET });
}

/** The case's input frames and reference tensors, read once per case. */
function loadCase(c: FateZeroCase): { tensors: Record<string, LoadedTensor>; inverted: Float32Array; final: Float32Array } {
  const tensors = readSafetensors(join(FATEZERO_CASES_DIR, c.file));
  return { tensors, inverted: framesFirst(tensors['output.inverted_latent']), final: framesFirst(tensors['output.final_latents']) };
}

describe.each(Object.entries(FATEZERO_CASES))('FateZero case %s', (_name, c) => {
  it('inverted latent, final latents and decoded frames agree with FateZero', async () => {
    const { tensors, inverted, final } = loadCase(c);
    const result = await runCase(c, tensors, true);
    expect(maxAbsDiff(result.latents.source, framesFirst(tensors['output.z0']))).toBeLessThan(1e-4);
    expect(maxAbsDiff(result.latents.inverted, inverted)).toBeLessThan(5e-4);
    expect(maxAbsDiff(result.latents.edited, final)).toBeLessThan(2e-2);
    expect(meanAbsDiff(result.latents.edited, final)).toBeLessThan(1e-3);

    // decoded frames: the VAE output mapped to [0, 1] before rounding, and our uint8 frames within one grey level
    const decoded = await model.decodeLatents({ data: result.latents.edited.map((v) => v / model.facts.scalingFactor), dims: result.latents.dims });
    const expectedRaw = tensors['output.decoded_raw'].data as Float32Array;
    const unit = (v: number) => Math.min(1, Math.max(0, v / 2 + 0.5));
    expect(maxAbsDiff(decoded.data.map(unit), expectedRaw.map(unit))).toBeLessThan(2e-3);
    const expectedFrames = tensors['output.frames'].data as Float32Array;
    const ours = result.frames.flatMap((f) => Array.from(f));
    expect(maxAbsDiff(ours, Array.from(expectedFrames, (v) => Math.round(v * 255)))).toBeLessThanOrEqual(1);
  }, CASE_TIMEOUT_MS);

  it('without fusion the same run is far from the reference: the agreement above is not vacuous', async () => {
    const { tensors, inverted, final } = loadCase(c);
    const unfused = await runCase(c, tensors, false);
    expect(maxAbsDiff(unfused.latents.inverted, inverted)).toBeLessThan(5e-4);
    expect(maxAbsDiff(unfused.latents.edited, final)).toBeGreaterThan(0.2);
    expect(meanAbsDiff(unfused.latents.edited, final)).toBeGreaterThan(1e-2);
  }, CASE_TIMEOUT_MS);
});
