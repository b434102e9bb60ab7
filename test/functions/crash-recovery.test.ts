/**
 * Creates killed with SIGKILL at their crash windows: the API runs as its own process against the emulators,
 * dies at a point (test-only crash switch), and is started again.
 * - between reserving its Idempotency-Key and writing its job: the replay of the same key must then create the
 *   job within the create lease, not stay blocked for days;
 * - between writing its job and sending the job's queue message: with nobody replaying, a runner's sweep must
 *   send the message, so the job runs (and its tenant's slot comes back) within a minute; a replay of the key
 *   sends it at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobStore } from '../../shared/job-store.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { uploadKey } from '../../shared/s3-keys.ts';
import { useEmulators } from '../support/emulators.ts';
import { REPO_ROOT } from '../support/paths.ts';
import { makeClip } from '../gpu-runner/worker/support/clips.ts';
import { killAllWorkers, spawnWorker, waitForLine } from '../gpu-runner/worker/support/processes.ts';

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

const createRequest = (port: number, key = 'crash-key-1', uploadId = UPLOAD_ID) =>
  fetch(`http://127.0.0.1:${port}/v1/edits`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}`, 'Idempotency-Key': key },
    body: JSON.stringify({ sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking', preset: 'optimized', frames: { count: 4 }, sampler: { steps: 3 }, input: { uploadId } }),
  });

/** Start the API with the crash switch at `point`, send one create and see the process die there. */
async function createAndDieAt(point: string, key: string, uploadId: string): Promise<void> {
  const doomed = await startApi({ OCD_TEST_ONLY_KILL_AT: point });
  const exited = once(doomed.process, 'exit');
  await expect(createRequest(doomed.port, key, uploadId)).rejects.toThrow(); // the connection dies with the process
  const [, signal] = await exited;
  expect(signal).toBe('SIGKILL');
}

describe('a create killed after reserving its key', () => {
  it('is recovered by a replay of the same key within the create lease after a restart', { timeout: 60_000 }, async () => {
    const { s3, resources, dynamo } = emulators.current;
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: uploadKey('crash', UPLOAD_ID), Body: mp4Like(), ContentType: 'video/mp4' }));
    const jobs = new JobStore({ client: dynamo, table: resources.table });

    await createAndDieAt('after-idempotency-reservation', 'crash-key-1', UPLOAD_ID);
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

describe('a create killed after writing its job, before sending its message', () => {
  const CLIP_UPLOAD_ID = '01JDCRASH00000000000000002';
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ocd-crash-'));
    await makeClip(join(scratch, 'clip.mp4'), 8, 64);
    await writeFile(join(scratch, 'model_index.json'), '{}'); // the fake engine's "model folder"
  });
  afterAll(async () => {
    await killAllWorkers();
    await rm(scratch, { recursive: true, force: true });
  });

  /** Upload the clip, create with the crash switch after the job write, and return the job the dead create left. */
  async function leftBehind(key: string) {
    const { s3, resources, dynamo } = emulators.current;
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: uploadKey('crash', CLIP_UPLOAD_ID), Body: await readFile(join(scratch, 'clip.mp4')), ContentType: 'video/mp4' }));
    const jobs = new JobStore({ client: dynamo, table: resources.table });
    await createAndDieAt('after-job-write', key, CLIP_UPLOAD_ID);
    const held = await jobs.findIdempotencyKey('crash', key);
    const job = await jobs.get(held!.jobId);
    expect(job).toMatchObject({ state: 'queued', tenant: 'crash' }); // written ...
    expect(await jobs.findUnsent(job!.id)).toMatchObject({ tenant: 'crash' }); // ... its message owed ...
    expect(Object.keys((await jobs.admissionHolders('crash')) ?? {})).toContain(job!.id); // ... holding a slot
    return { jobs, job: job! };
  }

  it('runs within a minute with no replay: an idle runner sends the message the create owed, and the slot comes back', { timeout: 90_000 }, async () => {
    const { jobs, job } = await leftBehind('crash-key-2');
    const killedAt = Date.now();
    await startApi({}); // the API comes back; nobody calls it
    const worker = spawnWorker('test/gpu-runner/worker/support/fake-worker-main.ts', ['--fake-step-ms', '50', '--fake-steps', '3', '--wait-seconds', '1', '--unsent-sweep-seconds', '1'], {
      ...emulators.current.env,
      OCD_MODEL_DIR: scratch,
      OCD_MODEL_CACHE_DIR: join(scratch, 'cache'),
    });
    await waitForLine(worker, (l) => l.msg === 'worker ready', 60_000);
    let current = await jobs.get(job.id);
    while (current && (current.state === 'queued' || current.state === 'running') && Date.now() - killedAt < 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      current = await jobs.get(job.id);
    }
    expect(current?.error ?? null).toBeNull();
    expect(current?.state).toBe('succeeded');
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    // Not before the create lease (15 s): a live create might still have been about to send it.
    expect(Date.parse(current!.startedAt!) - Date.parse(job.createdAt)).toBeGreaterThan(15_000);
    expect(worker.lines.some((l) => l.msg === 'settled a job its create left without a queue message' && l.jobId === job.id && l.outcome === 'sent')).toBe(true);
    expect(await jobs.findUnsent(job.id)).toBeUndefined();
    expect(Object.keys((await jobs.admissionHolders('crash')) ?? {})).not.toContain(job.id);
    worker.child.kill('SIGTERM');
    await worker.exited;
  });

  it('sends the owed message at once when the caller replays the key', { timeout: 60_000 }, async () => {
    const { sqs, resources } = emulators.current;
    const { jobs, job } = await leftBehind('crash-key-3');
    const restarted = await startApi({});
    const replay = await createRequest(restarted.port, 'crash-key-3', CLIP_UPLOAD_ID);
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await replay.json()).id).toBe(job.id);
    expect(await jobs.findUnsent(job.id)).toBeUndefined();
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect((received.Messages ?? []).map((m) => decodeQueueMessage(m.Body ?? '').jobId)).toContain(job.id);
  });
});
