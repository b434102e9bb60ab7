/**
 * FateZero's own `test_fatezero` on the tiny reference model (test/fixtures/reference/fatezero-cases, see its
 * README): the DDIM inversion trajectory with clip-wide GroupNorm. The end-to-end run through the `fatezero` preset
 * (fusion on and off) stores ~13 GB of float32 maps per case, so it lives in fatezero-cases.slow.ts
 * (`npm run test:slow`), outside the default suite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../../gpu-runner/graph/index.ts';
import { loadEditModel } from '../../../gpu-runner/engine/load-model.ts';
import { createInversion, createSampler } from '../../../gpu-runner/engine/sampling.ts';
import { loadModelFolder } from '../../../gpu-runner/models/bundle/model-folder.ts';
import { parseUNetConfig } from '../../../gpu-runner/models/unet/config.ts';
import { buildUNetGraph } from '../../../gpu-runner/models/unet/unet.ts';
import { createSession, runSession } from '../../../gpu-runner/runtime/session.ts';
import { float32Tensor, int64Tensor, tensorToFloat32 } from '../../../gpu-runner/runtime/tensors.ts';
import type { EditModel } from '../../../gpu-runner/engine/model.ts';
import { FATEZERO_CASES_DIR, REFERENCE_MODEL_DIR } from '../../support/paths.ts';
import { ENGINE_TEST_CACHE } from './support/model.ts';
import { FATEZERO_CASES, type FateZeroCase, framesFirst } from './support/fatezero-cases.ts';
import { maxAbsDiff, readSafetensors } from './support/safetensors.ts';

let model: EditModel;
const spillDir = mkdtempSync(join(tmpdir(), 'fatezero-cases-'));

beforeAll(async () => {
  model = await loadEditModel(REFERENCE_MODEL_DIR, { provider: 'cpu', cacheDir: ENGINE_TEST_CACHE });
});
afterAll(async () => {
  await model?.dispose();
  rmSync(spillDir, { recursive: true, force: true });
});

/** DDIM inversion of the case's z0 with the source prompt through a plain pseudo-3D UNet: every latent of the trajectory. */
async function inversionTrajectory(c: FateZeroCase, z0: Float32Array, groupNorm: 'clip' | 'frame'): Promise<Float32Array[]> {
  const folder = loadModelFolder(REFERENCE_MODEL_DIR);
  const dir = mkdtempSync(join(spillDir, `unet-${groupNorm}-`));
  const session = await createSession(saveModel(buildUNetGraph(parseUNetConfig(folder.unet.config), folder.unet.weights, { frames: c.frames, height: 32, width: 32, groupNorm }), dir, 'unet'));
  try {
    const text = await model.encodeText([model.tokenizer.encodeForModel(c.source_prompt).ids]);
    const context = new Float32Array(c.frames * text.data.length);
    for (let f = 0; f < c.frames; f++) context.set(text.data, f * text.data.length);
    const inversion = createInversion(createSampler('ddim', folder.scheduler.config, c.steps), folder.scheduler.config);
    const out: Float32Array[] = [];
    let z = z0;
    for (let j = 0; j < c.steps; j++) {
      const t = inversion.timesteps[j];
      const run = await runSession(session, { sample: float32Tensor(z, [c.frames, 4, 32, 32]), timestep: int64Tensor([t], []), encoder_hidden_states: float32Tensor(context, [c.frames, 77, text.dims[2]]) });
      z = inversion.step(tensorToFloat32(run.out_sample), j, z);
      out.push(z);
    }
    return out;
  } finally {
    await session.dispose();
    folder.dispose();
  }
}

describe.each(Object.entries(FATEZERO_CASES))('FateZero case %s', (_name, c) => {
  it("the DDIM inversion trajectory agrees with FateZero's at every step with clip-wide GroupNorm, not per frame", async () => {
    const tensors = readSafetensors(join(FATEZERO_CASES_DIR, c.file));
    const z0 = framesFirst(tensors['output.z0']);
    const trajectory = tensors['output.inversion_latents'];
    const per = z0.length;
    const reference = (j: number) => framesFirst({ ...trajectory, shape: trajectory.shape.slice(1), data: (trajectory.data as Float32Array).subarray(j * per, (j + 1) * per) });
    const clip = await inversionTrajectory(c, z0, 'clip');
    clip.forEach((z, j) => expect(maxAbsDiff(z, reference(j + 1))).toBeLessThan(5e-4));
    const perFrame = await inversionTrajectory(c, z0, 'frame');
    expect(maxAbsDiff(perFrame[c.steps - 1], reference(c.steps))).toBeGreaterThan(0.1);
  }, 600_000);
});
