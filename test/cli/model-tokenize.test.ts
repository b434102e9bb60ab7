import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR, REPO_ROOT } from '../support/paths.ts';

interface TokenizerCase {
  prompt: string;
  hf_slow_sd77: number[];
  truncated: boolean;
}
const cases = (JSON.parse(readFileSync(join(REFERENCE_CASES_DIR, 'tokenizer.json'), 'utf8')) as { cases: TokenizerCase[] }).cases;
const exec = promisify(execFile);
const ocd = join(REPO_ROOT, 'bin/ocd.mjs');

describe('ocd tokenize', () => {
  // A plain prompt, contractions and punctuation, and one that is truncated to 75 tokens (T's tests cover all 43).
  it.each([0, 7, 42])('prints the 77 ids transformers gives for reference prompt %i', async (index) => {
    const { prompt, hf_slow_sd77: expected, truncated } = cases[index];
    const { stdout, stderr } = await exec(process.execPath, [ocd, 'tokenize', REFERENCE_MODEL_DIR, prompt]);
    expect(JSON.parse(stdout)).toEqual(expected);
    expect(stderr.includes('was truncated')).toBe(truncated);
  });

  it('fails naming the missing tokenizer file', async () => {
    await expect(exec(process.execPath, [ocd, 'tokenize', REFERENCE_CASES_DIR, 'a dog'])).rejects.toMatchObject({
      code: 1, stderr: expect.stringContaining(`missing file ${join(REFERENCE_CASES_DIR, 'tokenizer', 'vocab.json')}`),
    });
  });
});
