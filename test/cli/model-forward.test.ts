import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { forwardComponent } from '../../cli/commands/model.ts';
import type { ComponentName } from '../../gpu-runner/models/bundle/component-graphs.ts';
import { SafetensorsFile } from '../../gpu-runner/models/safetensors.ts';
import { disposeAllSessions } from '../../gpu-runner/runtime/session.ts';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR, REPO_ROOT } from '../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-model-forward-'));
const cacheDir = join(scratch, 'cache');
afterAll(async () => {
  await disposeAllSessions();
  rmSync(scratch, { recursive: true, force: true });
});

/** Largest |a - b| over the output tensors `names` of our file vs the reference case's `output.<name>`. */
function maxAbsErrors(ourPath: string, casePath: string, names: readonly string[]): Record<string, number> {
  const ours = SafetensorsFile.open(ourPath);
  const reference = SafetensorsFile.open(casePath);
  const errors: Record<string, number> = {};
  for (const name of names) {
    expect(ours.info(name)?.shape).toEqual(reference.info(`output.${name}`)?.shape);
    const a = ours.readFloat32(name);
    const b = reference.readFloat32(`output.${name}`);
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    errors[name] = Number.isNaN(max) ? Infinity : max;
  }
  ours.close();
  reference.close();
  return errors;
}

const CASES: Array<[string, ComponentName, string[]]> = [
  ['text_encoder', 'text_encoder', ['last_hidden_state']],
  ['unet_t_scalar', 'unet', ['sample']],
  ['unet_t_batch', 'unet', ['sample']],
  ['unet_t_float', 'unet', ['sample']],
  ['vae_encoder', 'vae_encoder', ['latent_dist_mean', 'latent_dist_logvar']],
  ['vae_decoder', 'vae_decoder', ['sample']],
];

describe('ocd model forward (in process) matches the diffusers/transformers references', () => {
  it.each(CASES)('%s through %s within 1e-4', async (caseName, component, outputs) => {
    const casePath = join(REFERENCE_CASES_DIR, `${caseName}.safetensors`);
    const outputPath = join(scratch, `${caseName}.out.safetensors`);
    await forwardComponent({ modelDir: REFERENCE_MODEL_DIR, component, inputPath: casePath, outputPath, cacheDir });
    for (const error of Object.values(maxAbsErrors(outputPath, casePath, outputs))) expect(error).toBeLessThanOrEqual(1e-4);
  });

  it.each([['vae_encoder', 'vae_encoder', ['latent_dist_mean', 'latent_dist_logvar']], ['vae_decoder', 'vae_decoder', ['sample']]] as const)(
    '%s with the legacy VAE attention names within 1e-4', async (caseName, component, outputs) => {
      const modelDir = join(scratch, 'legacy-model');
      cpSync(REFERENCE_MODEL_DIR, modelDir, { recursive: true });
      cpSync(join(REFERENCE_CASES_DIR, 'vae_legacy_keys.safetensors'), join(modelDir, 'vae/diffusion_pytorch_model.safetensors'));
      const casePath = join(REFERENCE_CASES_DIR, `${caseName}.safetensors`);
      const outputPath = join(scratch, `${caseName}.legacy.out.safetensors`);
      await forwardComponent({ modelDir, component, inputPath: casePath, outputPath, cacheDir });
      for (const error of Object.values(maxAbsErrors(outputPath, casePath, outputs))) expect(error).toBeLessThanOrEqual(1e-4);
    },
  );
});

describe('ocd model forward (spawned)', () => {
  const ocd = join(REPO_ROOT, 'bin/ocd.mjs');
  const exec = promisify(execFile);

  it('runs the UNet case from the command line and writes bare output names', async () => {
    const casePath = join(REFERENCE_CASES_DIR, 'unet_t_scalar.safetensors');
    const outputPath = join(scratch, 'spawned.safetensors');
    const { stdout } = await exec(process.execPath, [ocd, 'model', 'forward', REFERENCE_MODEL_DIR, 'unet', casePath, outputPath, '--cache-dir', cacheDir]);
    expect(stdout).toContain('sample: float32 [2, 4, 32, 32]');
    expect(maxAbsErrors(outputPath, casePath, ['sample']).sample).toBeLessThanOrEqual(1e-4);
  });

  it('exits 2 with the allowed components on an unknown component', async () => {
    const run = exec(process.execPath, [ocd, 'model', 'forward', REFERENCE_MODEL_DIR, 'safety_checker', 'a', 'b']);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("unknown component 'safety_checker'; allowed: text_encoder, unet, vae_encoder, vae_decoder") });
  });
});
