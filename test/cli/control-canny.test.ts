import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../gpu-runner/models/safetensors.ts';
import { CONTROL_CASES_DIR, REPO_ROOT } from '../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-control-canny-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const ocd = join(REPO_ROOT, 'bin/ocd.mjs');
const exec = promisify(execFile);

describe('ocd control canny (spawned)', () => {
  it.each([['canny_100_200', '100', '200'], ['canny_50_150', '50', '150']])('%s: edges equal OpenCV bit for bit', async (name, low, high) => {
    const casePath = join(CONTROL_CASES_DIR, `${name}.safetensors`);
    const outputPath = join(scratch, `${name}.out.safetensors`);
    const { stdout } = await exec(process.execPath, [ocd, 'control', 'canny', casePath, outputPath, '--low', low, '--high', high]);
    expect(stdout).toContain('edges: uint8 [4, 96, 128]');
    const ours = SafetensorsFile.open(outputPath);
    const reference = SafetensorsFile.open(casePath);
    expect(ours.info('edges')).toMatchObject({ dtype: 'U8', shape: [4, 96, 128] });
    expect(Buffer.from(ours.readBytes('edges')).equals(Buffer.from(reference.readBytes('output.edges')))).toBe(true);
    ours.close();
    reference.close();
  });

  it('exits 2 with the usage on a missing threshold', async () => {
    const run = exec(process.execPath, [ocd, 'control', 'canny', 'a.safetensors', 'b.safetensors', '--low', '100']);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--high must be a non-negative number") });
  });

  it('exits 1 naming the tensor when the input holds no uint8 frames', async () => {
    const casePath = join(CONTROL_CASES_DIR, 'controlnet_t_scalar.safetensors');
    const run = exec(process.execPath, [ocd, 'control', 'canny', casePath, join(scratch, 'x.safetensors'), '--low', '1', '--high', '2']);
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("no tensor 'image' (or 'input.image')") });
  });
});
