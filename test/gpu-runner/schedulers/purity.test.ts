import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../support/paths.ts';

const SCHEDULERS_DIR = resolve(REPO_ROOT, 'gpu-runner/schedulers');
const files = readdirSync(SCHEDULERS_DIR).filter((name) => name.endsWith('.ts'));

// style.md habit 1: schedulers are math only, no runtime, file system or cloud I/O.
describe('gpu-runner/schedulers imports', () => {
  it('has scheduler files to check', () => {
    expect(files).toEqual(expect.arrayContaining(['ddim.ts', 'ddim-inverse.ts', 'dpm-solver-multistep.ts', 'guidance.ts', 'noise-schedule.ts']));
  });

  it.each(files)('%s imports neither onnxruntime-node, node:fs nor @aws-sdk', (name) => {
    const imports = [...readFileSync(resolve(SCHEDULERS_DIR, name), 'utf8').matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]);
    for (const source of imports) expect(source).not.toMatch(/^(onnxruntime-node|node:fs|fs|@aws-sdk\/)/);
  });
});
