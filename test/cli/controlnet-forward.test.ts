import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { forwardComponent } from '../../cli/commands/model.ts';
import { SafetensorsFile } from '../../gpu-runner/models/safetensors.ts';
import { disposeAllSessions } from '../../gpu-runner/runtime/session.ts';
import { CONTROL_CASES_DIR, CONTROLNET_DIR, REFERENCE_MODEL_DIR, REPO_ROOT } from '../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-controlnet-forward-'));
const cacheDir = join(scratch, 'cache');
afterAll(async () => {
  await disposeAllSessions();
  rmSync(scratch, { recursive: true, force: true });
});

const RESIDUALS = [0, 1, 2, 3, 4, 5].map((i) => `down_block_res_samples.${i}`).concat('mid_block_res_sample');

/** Largest |ours - reference| for each output `name` (ours bare, the case's as `output.<name>`). */
function maxAbsErrors(ourPath: string, casePath: string, names: readonly string[]): Record<string, number> {
  const ours = SafetensorsFile.open(ourPath);
  const reference = SafetensorsFile.open(casePath);
  try {
    return Object.fromEntries(names.map((name) => {
      expect(ours.info(name)?.shape).toEqual(reference.info(`output.${name}`)?.shape);
      const a = ours.readFloat32(name);
      const b = reference.readFloat32(`output.${name}`);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
      return [name, Number.isNaN(max) ? Infinity : max];
    }));
  } finally {
    ours.close();
    reference.close();
  }
}

describe('ocd model forward matches diffusers ControlNetModel and the UNet with its residuals', () => {
  it.each(['controlnet_t_scalar', 'controlnet_t_batch_scaled'])('%s: every residual within 1e-4', async (caseName) => {
    const casePath = join(CONTROL_CASES_DIR, `${caseName}.safetensors`);
    const outputPath = join(scratch, `${caseName}.out.safetensors`);
    await forwardComponent({ modelDir: CONTROLNET_DIR, component: 'controlnet', inputPath: casePath, outputPath, cacheDir });
    const errors = maxAbsErrors(outputPath, casePath, RESIDUALS);
    for (const error of Object.values(errors)) expect(error).toBeLessThanOrEqual(1e-4);
  });

  it('unet_control_residuals: the UNet adds the residuals within 1e-4', async () => {
    const casePath = join(CONTROL_CASES_DIR, 'unet_control_residuals.safetensors');
    const outputPath = join(scratch, 'unet_control_residuals.out.safetensors');
    await forwardComponent({ modelDir: REFERENCE_MODEL_DIR, component: 'unet', inputPath: casePath, outputPath, cacheDir });
    expect(maxAbsErrors(outputPath, casePath, ['sample']).sample).toBeLessThanOrEqual(1e-4);
  });
});

describe('ocd model forward controlnet (spawned)', () => {
  const ocd = join(REPO_ROOT, 'bin/ocd.mjs');
  const exec = promisify(execFile);

  it('runs the ControlNet case from the command line and writes the residual names', async () => {
    const casePath = join(CONTROL_CASES_DIR, 'controlnet_t_scalar.safetensors');
    const outputPath = join(scratch, 'spawned.safetensors');
    const { stdout } = await exec(process.execPath, [ocd, 'model', 'forward', CONTROLNET_DIR, 'controlnet', casePath, outputPath, '--cache-dir', cacheDir]);
    expect(stdout).toContain('down_block_res_samples.0: float32 [2, 32, 32, 32]');
    expect(stdout).toContain('mid_block_res_sample: float32 [2, 64, 16, 16]');
    expect(Math.max(...Object.values(maxAbsErrors(outputPath, casePath, RESIDUALS)))).toBeLessThanOrEqual(1e-4);
  });

  it('exits 1 naming the folder when the ControlNet folder is a whole model folder', async () => {
    const casePath = join(CONTROL_CASES_DIR, 'controlnet_t_scalar.safetensors');
    const run = exec(process.execPath, [ocd, 'model', 'forward', REFERENCE_MODEL_DIR, 'controlnet', casePath, join(scratch, 'x.safetensors')]);
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('has no config.json, so it is not a ControlNetModel folder') });
  });

  it('ocd model controlnet --preset tiny writes a folder that forward runs on the reference inputs', async () => {
    const dir = join(scratch, 'random-tiny');
    const made = await exec(process.execPath, [ocd, 'model', 'controlnet', dir, '--preset', 'tiny', '--seed', '3']);
    expect(made.stdout).toContain('wrote tiny ControlNet (seed 3)');
    const casePath = join(CONTROL_CASES_DIR, 'controlnet_t_scalar.safetensors');
    const outputPath = join(scratch, 'random-tiny.out.safetensors');
    const { stdout } = await exec(process.execPath, [ocd, 'model', 'forward', dir, 'controlnet', casePath, outputPath, '--cache-dir', cacheDir]);
    expect(stdout).toContain('down_block_res_samples.5: float32 [2, 64, 8, 8]');
    expect(stdout).toContain('mid_block_res_sample: float32 [2, 64, 8, 8]');
  });

  it('exits 2 on an unknown ControlNet preset', async () => {
    const run = exec(process.execPath, [ocd, 'model', 'controlnet', join(scratch, 'nope'), '--preset', 'sdxl']);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--preset must be one of sd15, tiny; got 'sdxl'") });
  });
});
