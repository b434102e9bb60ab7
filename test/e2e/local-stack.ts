/**
 * Starts the whole local stack (`scripts/start.ts`, what `npm start` runs) on free ports with its own data
 * folder, and reads what it prints: the base URL, the dev key and the curl example.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/paths.ts';

export interface RunningStack {
  baseUrl: string;
  apiKey: string;
  dataDir: string;
  /** Everything the stack printed so far. */
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startLocalStack(timeoutMs = 240_000): Promise<RunningStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ocd-stack-'));
  const ports = { api: await freePort(), s3: await freePort(), sqs: await freePort(), dynamodb: await freePort(), workerHealth: await freePort() };
  await writeFile(join(dataDir, 'settings.json'), JSON.stringify({ tenant: 'e2e', apiKey: `ocd_e2e${'x'.repeat(40)}`, ports }));
  let output = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/start.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, OCD_DATA_DIR: dataDir, PORT: String(ports.api) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (!output.includes('The service is running.')) {
    if (child.exitCode !== null) throw new Error(`the local stack exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the local stack was not ready after ${timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const key = /API key:\s+(\S+)/.exec(output)?.[1];
  if (!key) throw new Error(`no API key in the banner:\n${output}`);
  return { baseUrl: `http://127.0.0.1:${ports.api}`, apiKey: key, dataDir, output: () => output, stop };
}
