/**
 * What a new user sees from npm: no warning about the project's own npm configuration, and no dependency that
 * refuses a Node version package.json claims to support.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/paths.ts';

const run = promisify(execFile);
const read = (file: string) => JSON.parse(readFileSync(join(REPO_ROOT, file), 'utf8')) as Record<string, unknown>;

describe('npm hygiene', () => {
  it('npm reads the project .npmrc without warnings', async () => {
    const { stderr } = await run('npm', ['config', 'get', 'ignore-scripts'], { cwd: REPO_ROOT });
    expect(stderr).not.toMatch(/npm warn/i);
  });

  it('every locked package accepts every Node version package.json claims', () => {
    const claimed = (read('package.json').engines as { node: string }).node;
    const packages = read('package-lock.json').packages as Record<string, { engines?: { node?: string } | string[] }>;
    const refusing = Object.entries(packages)
      .filter(([path, meta]) => path && meta.engines && !Array.isArray(meta.engines) && meta.engines.node)
      .filter(([, meta]) => !semver.subset(claimed, (meta.engines as { node: string }).node))
      .map(([path, meta]) => `${path} (${(meta.engines as { node: string }).node})`);
    expect(refusing, `package.json claims node ${claimed}`).toEqual([]);
  });
});
