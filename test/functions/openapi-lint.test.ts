/**
 * The served /openapi.json under the ecosystem's own checkers: Redocly CLI (`recommended`) and Spectral
 * (`spectral:oas`), with the repository's config files, offline and without telemetry. Zero findings of any
 * severity, so a client generator sees a document it accepts as is.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app.ts';
import { fakeDeps } from './fakes.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
// No update checks, notices or usage reports: the test runs offline and must not phone home.
const ENV = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true', CI: 'true', NO_COLOR: '1' };

let dir: string;
let documentPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
  documentPath = join(dir, 'openapi.json');
  const response = await createApp(fakeDeps({ publicBaseUrl: 'https://api.ocd-video.dev' })).request('/openapi.json');
  await writeFile(documentPath, JSON.stringify(await response.json(), null, 2));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run a linter; it exits non-zero when it finds something, so its report decides, not its exit code. */
async function lint(file: string, args: string[]): Promise<string> {
  try {
    return (await run(bin(file), args, { cwd: ROOT, env: ENV, timeout: 60_000 })).stdout;
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string };
    if (typeof failed.code !== 'number') throw error; // the binary did not run at all
    return failed.stdout ?? '';
  }
}

describe('the served OpenAPI document under the linters', () => {
  it('has no Redocly findings (recommended rules)', async () => {
    const stdout = await lint('redocly', ['lint', documentPath, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json']);
    const result = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string }[] };
    expect(result.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(result.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('has no Spectral findings (spectral:oas)', async () => {
    const report = join(dir, 'spectral.json');
    await lint('spectral', ['lint', documentPath, '--ruleset', join(ROOT, '.spectral.yaml'), '--format', 'json', '--output', report, '--fail-severity', 'hint']);
    const results = JSON.parse(await readFile(report, 'utf8')) as { code: string; message: string; path: string[] }[];
    expect(results.map((r) => `${r.code}: ${r.message} at ${r.path.join('.')}`)).toEqual([]);
  }, 60_000);
});
