/** What a person sees when a command is used wrongly: one line that says what is wrong, then the command's usage. */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLIPS_DIR, REPO_ROOT } from '../support/paths.ts';

const execFileAsync = promisify(execFile);

async function ocd(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [join(REPO_ROOT, 'bin/ocd.mjs'), ...args], { cwd: REPO_ROOT, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const CLIP = join(CLIPS_DIR, 'bear_tiger_lion_leopard.mp4');

describe('ocd usage errors', () => {
  it.each(['edit', 'submit', 'tokenize', 'model tiny', 'keys list', 'version'])('ocd %s --bogus: one line naming the flag, then the usage, exit 2', async (command) => {
    const result = await ocd(...command.split(' '), '--bogus');
    expect(result.code).toBe(2);
    const [first, ...rest] = result.stderr.trim().split('\n');
    expect(first).toMatch(new RegExp(`^ocd ${command.split(' ')[0]}.*: Unknown option '--bogus'`));
    expect(rest.join('\n')).toMatch(/usage:/);
  });

  it('ocd submit names a missing file as missing', async () => {
    const result = await ocd('submit', 'no-such-clip.mp4', '--source', 'a', '--target', 'b', '--key', 'k');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('ocd submit: no-such-clip.mp4 does not exist.');
  });

  it('ocd submit names the URL and the cause when nothing answers', async () => {
    const port = await closedPort();
    const result = await ocd('submit', CLIP, '--source', 'a bear', '--target', 'a tiger', '--key', 'k', '--api', `http://127.0.0.1:${port}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach http://127.0.0.1:${port} (ECONNREFUSED: connection refused`);
  });

  it('ocd edit --help says where the preview and report.json go', async () => {
    const result = await ocd('edit', '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/preview[\s\S]*report\.json go to <out name>\.files\//);
  });
});
