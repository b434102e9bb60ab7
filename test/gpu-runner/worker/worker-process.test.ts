/**
 * Several worker processes against the emulators: SIGKILL in the middle of a job, SIGTERM with and without
 * enough grace. Workers run `support/fake-worker-main.ts` (the real process assembly with the fake engine).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { encodeQueueMessage } from '../../../shared/queue-message.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobOutputKey } from '../../../shared/s3-keys.ts';
import { useEmulators } from '../../support/emulators.ts';
import { makeTestInputs, type TestInputs } from './support/clips.ts';
import { createTestQueue, getJob, jobStore, seedJob, waitFor, waitForState } from './support/jobs.ts';
import { killAllWorkers, spawnWorker, waitForLine, type WorkerProcess } from './support/processes.ts';

const env = useEmulators();
let inputs: TestInputs;
let modelDir: string;

const ENTRY = 'test/gpu-runner/worker/support/fake-worker-main.ts';
const FAST_FLAGS = ['--visibility-seconds', '3', '--heartbeat-seconds', '1', '--wait-seconds', '1', '--progress-interval-ms', '200', '--cancel-check-ms', '300', '--retry-delay-seconds', '0'];

beforeAll(async () => {
  inputs = await makeTestInputs();
  modelDir = await mkdtemp(join(tmpdir(), 'ocd-fake-model-'));
  await writeFile(join(modelDir, 'model_index.json'), '{}');
});
afterAll(async () => {
  await killAllWorkers();
  await rm(inputs.dir, { recursive: true, force: true });
  await rm(modelDir, { recursive: true, force: true });
});

function workerEnv(queueUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...env.current.env, OCD_QUEUE_URL: queueUrl, OCD_MODEL_DIR: modelDir, OCD_MODEL_CACHE_DIR: join(modelDir, 'cache'), ...extra };
}

function startWorker(queueUrl: string, fake: { stepMs: number; steps: number }, extraEnv: Record<string, string> = {}): WorkerProcess {
  return spawnWorker(ENTRY, ['--fake-step-ms', String(fake.stepMs), '--fake-steps', String(fake.steps), ...FAST_FLAGS], workerEnv(queueUrl, extraEnv));
}

const workerReady = (w: WorkerProcess) => waitForLine(w, (l) => l.msg === 'worker ready', 60_000);

async function runIdOf(key: string): Promise<string | undefined> {
  const head = await env.current.s3.send(new HeadObjectCommand({ Bucket: env.current.resources.bucket, Key: key }));
  return head.Metadata?.['run-id'];
}

describe('exactly once', () => {
  it('finishes 10 jobs on 2 workers, one SIGKILLed mid-job and restarted: each job done by exactly one completed run', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h, { visibilitySeconds: 3, maxReceiveCount: 5 });
    const fake = { stepMs: 150, steps: 8 };
    const a = startWorker(queueUrl, fake);
    const b = startWorker(queueUrl, fake);
    await Promise.all([workerReady(a), workerReady(b)]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await seedJob(h, { queueUrl, input: inputs.good }));

    // Kill A once it is a few steps into a job.
    const victimLine = await waitForLine(a, (l) => l.msg === 'job started', 30_000);
    const victimId = String(victimLine.jobId);
    await waitFor('the victim to be a few steps in', async () => {
      const job = await getJob(h, victimId);
      return job.state === 'running' && job.progress?.stage === 'edit' && job.progress.step >= 2;
    }, 15_000, 50);
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const restarted = startWorker(queueUrl, fake);

    const jobs = await Promise.all(ids.map((id) => waitForState(h, id, ['succeeded', 'failed', 'canceled'], 90_000)));
    expect(jobs.map((j) => j.state)).toEqual(Array(10).fill('succeeded'));
    expect(jobs.filter((j) => j.state === 'running')).toEqual([]);
    const victim = jobs.find((j) => j.id === victimId)!;
    expect(victim.attempt).toBe(2); // taken over after the killed run's lease ran out

    // A worker logs 'job ended' after it writes the final state: stop the workers and read all their output first.
    b.child.kill('SIGTERM');
    restarted.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    expect((await restarted.exited).code).toBe(0);

    const all = [a, b, restarted];
    for (const job of jobs) {
      // Exactly one run ended in success, and every output carries that run's id.
      const successes = all.flatMap((w) => w.lines.filter((l) => l.jobId === job.id && l.msg === 'job ended' && l.outcome === 'succeeded'));
      expect({ id: job.id, successes: successes.length }).toEqual({ id: job.id, successes: 1 });
      const winner = `${job.workerId}#${job.attempt}`;
      const runIds = await Promise.all((['video', 'preview', 'report'] as const).map((name) => runIdOf(jobOutputKey(job.id, name))));
      expect(runIds).toEqual([winner, winner, winner]);
      const report = await h.s3.send(new GetObjectCommand({ Bucket: h.resources.bucket, Key: jobOutputKey(job.id, 'report') }));
      expect(JSON.parse(await report.Body!.transformToString())).toMatchObject({ engine: 'fake', stepsDone: 8 });
    }
    // The killed worker never finished its job.
    expect(a.lines.some((l) => l.jobId === victimId && l.msg === 'job ended')).toBe(false);
  }, 180_000);
});

describe('SIGTERM', () => {
  it('lets the current job finish within the grace period, takes no new job, and exits 0', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h, { visibilitySeconds: 3 });
    const w = startWorker(queueUrl, { stepMs: 250, steps: 12 }, { OCD_GRACE_SECONDS: '30' });
    await workerReady(w);
    const first = await seedJob(h, { queueUrl, input: inputs.good });
    await waitFor('the job to be a few steps in', async () => {
      const job = await getJob(h, first);
      return job.progress?.stage === 'edit' && job.progress.step >= 2;
    }, 15_000, 50);
    const second = await seedJob(h, { queueUrl, input: inputs.good });
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    const job = await getJob(h, first);
    expect(job.state).toBe('succeeded');
    expect(job.attempt).toBe(1);
    expect((await getJob(h, second)).state).toBe('queued');
  });

  it('hands the job back when the grace period runs out, and another worker then finishes it', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h, { visibilitySeconds: 3 });
    const w = startWorker(queueUrl, { stepMs: 250, steps: 40 }, { OCD_GRACE_SECONDS: '1' });
    await workerReady(w);
    const id = await seedJob(h, { queueUrl, input: inputs.good });
    await waitFor('the job to be a few steps in', async () => {
      const job = await getJob(h, id);
      return job.progress?.stage === 'edit' && job.progress.step >= 2;
    }, 15_000, 50);
    const signaledAt = Date.now();
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - signaledAt).toBeLessThan(8000);
    expect(w.lines.some((l) => l.msg === 'grace period over: handing the job back' && l.jobId === id)).toBe(true);
    const handedBack = await getJob(h, id);
    expect(handedBack.state).toBe('queued');
    expect(handedBack.progress).toBeNull();
    expect(handedBack.attempt).toBe(1);

    const next = startWorker(queueUrl, { stepMs: 20, steps: 40 });
    const job = await waitForState(h, id, ['succeeded', 'failed', 'canceled'], 30_000);
    expect(job.state).toBe('succeeded');
    expect(job.attempt).toBe(2);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
  });
});

describe('model unavailable', () => {
  it('takes no job and exits 1 when the model folder is not a model', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const id = await seedJob(h, { queueUrl, input: inputs.good });
    const w = startWorker(queueUrl, { stepMs: 10, steps: 2 }, { OCD_MODEL_DIR: inputs.dir });
    const exit = await w.exited;
    expect(exit.code).toBe(1);
    const line = w.lines.find((l) => l.msg === 'model unavailable: this worker takes no jobs');
    expect((line?.error as { message?: string } | undefined)?.message).toMatch(/has no model_index.json/);
    expect((await getJob(h, id)).state).toBe('queued');
  });
});

describe('dead letters', () => {
  it('an idle worker fails a job whose worker died on the last receive (message already in the DLQ)', async () => {
    const h = env.current;
    const { queueUrl, dlqUrl } = await createTestQueue(h);
    const id = await seedJob(h, { queueUrl, input: inputs.good, noMessage: true });
    await jobStore(h).claim(id, 0, 'dead-worker');
    await h.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: encodeQueueMessage(id) }));
    const w = startWorker(queueUrl, { stepMs: 10, steps: 2 });
    const job = await waitForState(h, id, ['failed'], 30_000);
    expect(job.error?.code).toBe('internal');
    // The log line follows the end-state write (and its slot release), so it may arrive a moment later.
    await waitFor('the sweep to log the failed job', async () => w.lines.some((l) => l.msg === 'failed a job whose message is in the dead-letter queue' && l.jobId === id));
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });
});

