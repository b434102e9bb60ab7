/** The local Node entry: started as a process with configuration from the environment, as `npm start` will. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { accepts, externalIPv4 } from '../support/loopback.ts';
import { REPO_ROOT } from '../support/paths.ts';

let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill('SIGTERM');
});

async function startServer(env: Record<string, string>): Promise<{ port?: number; exitCode?: number | null; output: string }> {
  child = spawn(process.execPath, ['--import', 'tsx', 'functions/server.ts'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  const lines = createInterface({ input: child.stdout! });
  const listening = new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      output += `${line}\n`;
      if (line.includes('"listening"')) resolve(JSON.parse(line).port);
    });
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const first = await Promise.race([listening.then((port) => ({ port })), exited.then((exitCode) => ({ exitCode }))]);
  return { ...first, output };
}

describe('functions/server.ts', () => {
  it('refuses to start with an invalid environment and says which variables to fix', async () => {
    const result = await startServer({ OCD_TABLE: 'ocd-jobs' });
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain('OCD_BUCKET=(unset)');
  });

  it('serves the app on the configured port', async () => {
    const result = await startServer({
      PORT: '0',
      OCD_BUCKET: 'ocd-bucket',
      OCD_TABLE: 'ocd-jobs',
      OCD_QUEUE_URL: 'http://127.0.0.1:9/000000000000/ocd-edit-jobs',
      OCD_API_KEYS: 'dev:ocd_dev',
    });
    expect(result.port, result.output).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${result.port}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const doc = await (await fetch(`http://127.0.0.1:${result.port}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    // loopback only, unless HOST says otherwise
    const external = externalIPv4();
    if (external) expect(await accepts(external, result.port!)).toBe(false);
  });
});
