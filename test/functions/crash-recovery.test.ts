/**
 * A create killed with SIGKILL between reserving its Idempotency-Key and writing its job: the API runs as its
 * own process against the emulators, dies at that point (test-only crash switch), and is started again. The
 * replay of the same key must then create the job within the create lease, not stay blocked for days.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { JobStore } from '../../shared/job-store.ts';
import { uploadKey } from '../../shared/s3-keys.ts';
import { useEmulators } from '../support/emulators.ts';
import { REPO_ROOT } from '../support/paths.ts';

/** 2 KiB that start like an MP4 (an `ftyp` box), which is all the create-time check reads. */
function mp4Like(): Uint8Array {
  const bytes = new Uint8Array(2048).fill(7);
  bytes.set([0, 0, 0, 24, ...Buffer.from('ftypisom')]);
  return bytes;
}

const emulators = useEmulators();
const API_KEY = 'ocd_crash-test-key';
const UPLOAD_ID = '01JDCRASH00000000000000001';
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});

/** Start functions/server.ts as a process; resolves with its port once it listens. */
async function startApi(extraEnv: Record<string, string>): Promise<{ port: number; process: ChildProcess }> {
  const env = { PATH: process.env.PATH ?? '', ...emulators.current.env, PORT: '0', OCD_API_KEYS: `crash:${API_KEY}`, ...extraEnv };
  const started = spawn(process.execPath, ['--import', 'tsx', 'functions/server.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  let output = '';
  started.stderr!.on('data', (chunk) => (output += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: started.stdout! }).on('line', (line) => {
      if (line.includes('"listening"')) resolve(JSON.parse(line).port);
    });
    started.once('exit', (code) => reject(new Error(`the API exited (${code}) before listening: ${output}`)));
  });
  return { port, process: started };
}

const createRequest = (port: number) =>
  fetch(`http://127.0.0.1:${port}/v1/edits`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}`, 'Idempotency-Key': 'crash-key-1' },
    body: JSON.stringify({ sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking', input: { uploadId: UPLOAD_ID } }),
  });

describe('a create killed after reserving its key', () => {
  it('is recovered by a replay of the same key within the create lease after a restart', { timeout: 60_000 }, async () => {
    const { s3, resources, dynamo } = emulators.current;
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: uploadKey('crash', UPLOAD_ID), Body: mp4Like(), ContentType: 'video/mp4' }));
    const jobs = new JobStore({ client: dynamo, table: resources.table });

    const doomed = await startApi({ OCD_TEST_ONLY_KILL_AT: 'after-idempotency-reservation' });
    const exited = once(doomed.process, 'exit');
    await expect(createRequest(doomed.port)).rejects.toThrow(); // the connection dies with the process
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    const held = await jobs.findIdempotencyKey('crash', 'crash-key-1');
    expect(held).toBeDefined(); // the key is reserved ...
    expect(await jobs.get(held!.jobId)).toBeUndefined(); // ... and its job was never written

    const restarted = await startApi({});
    const startedAt = Date.now();
    let response = await createRequest(restarted.port);
    let refusals = 0;
    while (response.status === 409 && Date.now() - startedAt < 50_000) {
      refusals++;
      expect(response.headers.get('retry-after')).toBe('1'); // "still being processed", until the lease runs out
      await new Promise((resolve) => setTimeout(resolve, 500));
      response = await createRequest(restarted.port);
    }
    expect(response.status).toBe(202);
    const recoveredMs = Date.now() - startedAt;
    expect(refusals).toBeGreaterThan(0); // not before the default 15 s lease, counted from the reservation
    expect(recoveredMs).toBeLessThan(60_000);
    const job = await response.json();
    expect(await jobs.get(job.id)).toMatchObject({ state: 'queued', tenant: 'crash', idempotencyKey: 'crash-key-1' });
    // A further replay returns the same job.
    const replay = await createRequest(restarted.port);
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await replay.json()).id).toBe(job.id);
  });
});
