import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelFolder } from '../../gpu-runner/models/bundle/model-folder.ts';
import { writeTinyBundle } from '../../gpu-runner/models/bundle/tiny.ts';
import { CLIP_BPE_GZ, REPO_ROOT } from '../support/paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ocd-model-tiny-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const exec = promisify(execFile);
const ocd = join(REPO_ROOT, 'bin/ocd.mjs');

describe('ocd model tiny', () => {
  it('writes the seeded tiny bundle that the library writes', async () => {
    const dir = join(scratch, 'cli');
    const { stdout } = await exec(process.execPath, [ocd, 'model', 'tiny', dir, '--seed', '3', '--bpe', CLIP_BPE_GZ]);
    expect(stdout).toMatch(/^wrote tiny bundle \(seed 3\) to .*cli in \d+\.\d s/);
    const library = join(scratch, 'library');
    writeTinyBundle(library, { seed: 3, bpeVocabGzPath: CLIP_BPE_GZ });
    const file = 'unet/diffusion_pytorch_model.safetensors';
    expect(readFileSync(join(dir, file)).equals(readFileSync(join(library, file)))).toBe(true);
    loadModelFolder(dir).dispose();
  });

  it('exits 2 on a bad seed or option and 1 on a missing vocabulary file', async () => {
    await expect(exec(process.execPath, [ocd, 'model', 'tiny', join(scratch, 'x'), '--seed=-1']))
      .rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--seed must be an integer in [0, 2^32); got '-1'") });
    await expect(exec(process.execPath, [ocd, 'model', 'tiny', join(scratch, 'x'), '--sed', '1']))
      .rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--sed'") });
    await expect(exec(process.execPath, [ocd, 'model', 'tiny', join(scratch, 'y'), '--bpe', join(scratch, 'absent.gz')]))
      .rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`cannot read the CLIP BPE vocabulary ${join(scratch, 'absent.gz')}`) });
  });
});
