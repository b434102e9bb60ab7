/**
 * The job lifecycle against the loopback S3, SQS and DynamoDB emulators, with workers in this process and the
 * fast fake engine (the real video decoder, timed steps). Multi-process behaviour (SIGKILL, SIGTERM) is in
 * worker-process.test.ts; the real engine in happy-path.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobOutputKey } from '../../../shared/s3-keys.ts';
import { encodeQueueMessage } from '../../../shared/queue-message.ts';
import { useEmulators } from '../../support/emulators.ts';
import { makeTestInputs, type TestInputs } from './support/clips.ts';
import { createFakeEngine } from './support/fake-engine.ts';
import { createTestQueue, getJob, jobStore, seedJob, startInProcessWorker, waitFor, waitForState } from './support/jobs.ts';

const env = useEmulators();
let inputs: TestInputs;

beforeAll(async () => {
  inputs = await makeTestInputs();
});
afterAll(async () => {
  await rm(inputs.dir, { recursive: true, force: true });
});

async function queueCounts(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const result = await env.current.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(result.Attributes?.ApproximateNumberOfMessages), inFlight: Number(result.Attributes?.ApproximateNumberOfMessagesNotVisible) };
}

async function headRunId(key: string): Promise<string | undefined> {
  try {
    const head = await env.current.s3.send(new HeadObjectCommand({ Bucket: env.current.resources.bucket, Key: key }));
    return head.Metadata?.['run-id'] ?? '(no run-id)';
  } catch {
    return undefined;
  }
}

describe('a queued job', () => {
  it('runs to succeeded with its three outputs, progress, timings and one metrics record', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const agentCalls: unknown[] = [];
    const agent = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        agentCalls.push(JSON.parse(body));
        response.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    const running = await startInProcessWorker(h, {
      queueUrl,
      engine: createFakeEngine({ stepMs: 100, steps: 12 }),
      ecsAgentUri: `http://127.0.0.1:${(agent.address() as AddressInfo).port}`,
    });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      // Progress shows up in the record while the job runs.
      const midRun = await waitFor('progress in the edit stage', async () => {
        const current = await getJob(h, id);
        return current.state === 'running' && current.progress?.stage === 'edit' && current.progress.step > 0 ? current : undefined;
      }, 20_000, 30);
      expect(midRun.progress!.fraction).toBeGreaterThan(0.5);
      expect(midRun.progress!.fraction).toBeLessThan(1);
      expect(midRun.progress!.steps).toBe(12);
      expect(agentCalls).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 120 }]);
      const job = await waitForState(h, id, ['succeeded', 'failed', 'canceled']);
      expect(job.state).toBe('succeeded');
      expect(job.attempt).toBe(1);
      expect(job.outputs).toEqual({ video: jobOutputKey(id, 'video'), preview: jobOutputKey(id, 'preview'), report: jobOutputKey(id, 'report') });
      expect(job.progress?.fraction).toBe(1);
      expect(job.run).toEqual({ ranAs: 'optimized', note: null, mask: null });
      expect(Object.keys(job.timings)).toEqual(expect.arrayContaining(['download', 'decode', 'edit', 'upload']));
      const runIds = await Promise.all(['video', 'preview', 'report'].map((name) => headRunId(jobOutputKey(id, name as 'video'))));
      expect(new Set(runIds).size).toBe(1);
      expect(runIds[0]).toMatch(/#1$/);
      await waitFor('the message to be deleted', async () => {
        const counts = await queueCounts(queueUrl);
        return counts.visible + counts.inFlight === 0;
      });
      // The record is emitted after the message is deleted and the scratch folder removed: wait for it.
      await waitFor('the metrics record', async () => running.metrics.some((m) => m.jobId === id));
      const metrics = running.metrics.filter((m) => m.jobId === id);
      expect(metrics).toHaveLength(1);
      expect(metrics[0]).toMatchObject({ Outcome: 'succeeded', Preset: 'optimized', Frames: 4, Jobs: 1 });
      expect(metrics[0].RunTime).toBeGreaterThan(0);
      expect(metrics[0].QueueWait).toBeGreaterThanOrEqual(0);
      const emf = (metrics[0]._aws as { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0];
      expect(emf.Namespace).toBe('OCD/Worker');
      expect(emf.Metrics.map((m) => m.Name)).toEqual(expect.arrayContaining(['RunTime', 'QueueWait', 'Frames', 'Stage_edit']));
      expect(running.logs.some((line) => line.jobId === id && line.msg === 'job ended')).toBe(true);
      // Protection off again once the job is done.
      await waitFor('protection off', async () => agentCalls.length === 2);
      expect(agentCalls[1]).toEqual({ ProtectionEnabled: false });
    } finally {
      await running.stop();
      await new Promise<void>((resolve) => agent.close(() => resolve()));
    }
  });
});

describe('what ran', () => {
  it('records the preset that ran, the fallback note and the mask area from the report on the succeeded job', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 10, steps: 2 }) });
    try {
      const objectCentric = await seedJob(h, { queueUrl, input: inputs.good, request: { preset: 'ocd' } });
      const fellBack = await seedJob(h, { queueUrl, input: inputs.good, request: { preset: 'ocd', ocd: { mask: 'none' } } });
      const ran = await waitForState(h, objectCentric, ['succeeded', 'failed', 'canceled']);
      expect(ran.state).toBe('succeeded');
      expect(ran.run).toEqual({ ranAs: 'ocd', note: null, mask: { areaFraction: 0.25, source: 'prompt-difference', words: ['fake'] } });
      const fallback = await waitForState(h, fellBack, ['succeeded', 'failed', 'canceled']);
      expect(fallback.state).toBe('succeeded');
      expect(fallback.run).toMatchObject({ ranAs: 'optimized', mask: null });
      expect(fallback.run?.note).toMatch(/ran as optimized/);
      expect(running.logs.some((line) => line.jobId === fellBack && line.msg === 'edit ran' && /asked for ocd, ran as optimized/.test(String(line.summary)))).toBe(true);
    } finally {
      await running.stop();
    }
  });
});

describe('poison and bad inputs', () => {
  it('fails each bad job with its code, leaves a malformed message for the DLQ, and keeps serving', async () => {
    const h = env.current;
    const { queueUrl, dlqUrl } = await createTestQueue(h, { visibilitySeconds: 1, maxReceiveCount: 2 });
    const fake = createFakeEngine({ stepMs: 20 });
    // Which jobs reached the engine: the download step's ffprobe check stops files that are no video before it.
    const engineSaw: string[] = [];
    const engine = { ...fake, editVideoFile: (args: Parameters<typeof fake.editVideoFile>[0]) => (engineSaw.push(args.inputPath), fake.editVideoFile(args)) };
    const running = await startInProcessWorker(h, { queueUrl, engine });
    try {
      await h.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'this is not json' }));
      const cases = [
        { name: 'a missing upload', input: undefined, code: 'input_unreadable' },
        { name: 'a truncated MP4', input: inputs.truncated, code: 'input_truncated' },
        { name: 'a zero-byte file', input: inputs.zeroBytes, code: 'input_empty' },
        { name: 'a text file named .mp4', input: inputs.textAsMp4, code: 'input_unreadable' },
        { name: 'a one-frame video', input: inputs.oneFrame, code: 'input_too_short' },
        { name: 'a missing mask upload', input: inputs.good, mask: 'missing' as const, code: 'mask_unreadable' },
      ];
      const ids: string[] = [];
      for (const c of cases) ids.push(await seedJob(h, { queueUrl, input: c.input, ...('mask' in c ? { mask: c.mask } : {}) }));
      const goodId = await seedJob(h, { queueUrl, input: inputs.good });

      for (const [i, c] of cases.entries()) {
        const job = await waitForState(h, ids[i], ['succeeded', 'failed', 'canceled']);
        expect({ case: c.name, state: job.state, code: job.error?.code }).toEqual({ case: c.name, state: 'failed', code: c.code });
        expect(job.error?.message.length).toBeGreaterThan(10);
        // The caller sees no server detail: the job's temp folder, the storage key, a stack.
        expect(job.error?.message).not.toMatch(/\/tmp\/|ocd-worker|uploads\/|\bat \S+ \(/);
        expect(job.attempt).toBe(1); // failed at once, no retries
      }
      expect((await waitForState(h, goodId, ['succeeded', 'failed'])).state).toBe('succeeded');
      const reachedEngine = cases.filter((_, i) => engineSaw.some((path) => path.includes(`job-${ids[i]}-`))).map((c) => c.name);
      expect(reachedEngine).toEqual(['a truncated MP4', 'a one-frame video']);
      // The malformed message is never deleted by the worker; SQS moves it to the DLQ after 2 receives.
      await waitFor('the malformed message in the DLQ', async () => (await queueCounts(dlqUrl)).visible === 1, 20_000);
      expect(await queueCounts(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
      expect(running.logs.filter((l) => l.msg === 'malformed queue message: leaving it for the dead-letter queue').length).toBeGreaterThanOrEqual(1);
    } finally {
      await running.stop();
    }
  });
});

describe('cancel', () => {
  it('stops a running job within one step; the canceled job has no outputs', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const stepStarts: number[] = [];
    const running = await startInProcessWorker(h, {
      queueUrl,
      engine: createFakeEngine({ stepMs: 400, steps: 30, onStep: () => stepStarts.push(Date.now()) }),
    });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      await waitFor('two steps to run', async () => stepStarts.length >= 2);
      const outcome = await jobStore(h).requestCancel(id, 'tenant_a');
      const canceledAt = Date.now();
      expect(outcome.kind).toBe('cancel_requested');
      const job = await waitForState(h, id, ['succeeded', 'failed', 'canceled'], 10_000);
      expect(job.state).toBe('canceled');
      expect(job.error?.code).toBe('canceled');
      // Steps that began after the cancel was requested: at most the one under way when the check came back.
      expect(stepStarts.filter((t) => t > canceledAt).length).toBeLessThanOrEqual(1);
      expect(stepStarts.length).toBeLessThan(30);
      for (const name of ['video', 'preview', 'report'] as const) expect(await headRunId(jobOutputKey(id, name))).toBeUndefined();
      expect(job.outputs).toBeNull();
      await waitFor('the message to be deleted', async () => {
        const counts = await queueCounts(queueUrl);
        return counts.visible + counts.inFlight === 0;
      });
    } finally {
      await running.stop();
    }
  });
});

describe('cancel during the upload stage', () => {
  /** Outputs of the job, and whether the job ended canceled with none of them left and its message gone. */
  async function expectCanceledWithoutOutputs(queueUrl: string, id: string): Promise<void> {
    const job = await waitForState(env.current, id, ['succeeded', 'failed', 'canceled'], 15_000);
    expect(job).toMatchObject({ state: 'canceled', error: { code: 'canceled' }, outputs: null });
    for (const name of ['video', 'preview', 'report'] as const) expect(await headRunId(jobOutputKey(id, name))).toBeUndefined();
    await waitFor('the message to be deleted', async () => {
      const counts = await queueCounts(queueUrl);
      return counts.visible + counts.inFlight === 0;
    });
  }

  it('ends canceled (outputs removed) when the cancel arrives while the outputs are being uploaded', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    let uploading!: () => void;
    const uploadStarted = new Promise<void>((resolve) => (uploading = resolve));
    let finishUpload!: () => void;
    const uploadMayFinish = new Promise<void>((resolve) => (finishUpload = resolve));
    const running = await startInProcessWorker(h, {
      queueUrl,
      engine: createFakeEngine({ stepMs: 10, steps: 3 }),
      wrapArtifacts: (real) => ({
        ...real,
        upload: async (...args) => {
          uploading();
          await uploadMayFinish; // the first output is held open
          return real.upload(...args);
        },
      }),
    });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      await uploadStarted;
      await waitFor('the job to report the upload stage', async () => (await getJob(h, id)).progress?.stage === 'upload');
      expect((await jobStore(h).requestCancel(id, 'tenant_a')).kind).toBe('cancel_requested');
      finishUpload();
      await expectCanceledWithoutOutputs(queueUrl, id);
    } finally {
      finishUpload();
      await running.stop();
    }
  });

  it('ends canceled when the cancel is acknowledged after the last check, just before the success is written', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, {
      queueUrl,
      engine: createFakeEngine({ stepMs: 10, steps: 3 }),
      wrapJobs: (real) => ({
        ...real,
        markSucceeded: async (...args) => {
          // The caller's cancel lands between the run's last cancel check and its success write.
          expect((await jobStore(h).requestCancel(args[0], 'tenant_a')).kind).toBe('cancel_requested');
          return real.markSucceeded(...args);
        },
      }),
    });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      await expectCanceledWithoutOutputs(queueUrl, id);
    } finally {
      await running.stop();
    }
  });
});

describe('failures', () => {
  it('retries a transient failure by redelivery and marks the job failed (internal) on the last allowed receive', async () => {
    const h = env.current;
    const { queueUrl, dlqUrl } = await createTestQueue(h, { visibilitySeconds: 1, maxReceiveCount: 3 });
    let calls = 0;
    const engine = createFakeEngine({ stepMs: 10, failWith: () => (calls++, Object.assign(new Error('S3 said: connection reset'), { code: 'ECONNRESET' })) });
    const running = await startInProcessWorker(h, { queueUrl, engine, settings: { maxReceiveCount: 3 } });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      const job = await waitForState(h, id, ['succeeded', 'failed', 'canceled'], 20_000);
      expect(job.state).toBe('failed');
      expect(job.error?.code).toBe('internal');
      expect(job.error?.message).toContain('connection reset');
      expect(job.attempt).toBe(3);
      expect(calls).toBe(3);
      // Left for the dead-letter queue, not deleted.
      await waitFor('the message in the DLQ', async () => (await queueCounts(dlqUrl)).visible === 1, 20_000);
      expect(calls).toBe(3);
    } finally {
      await running.stop();
    }
  });

  it('fails a job that passes the per-job deadline with timeout', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 300, steps: 40 }), settings: { jobDeadlineSeconds: 1 } });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      const job = await waitForState(h, id, ['succeeded', 'failed', 'canceled'], 15_000);
      expect(job.state).toBe('failed');
      expect(job.error?.code).toBe('timeout');
      expect(job.error?.message).toContain('1 s');
    } finally {
      await running.stop();
    }
  });
});

describe('duplicates and takeover', () => {
  it('deletes a duplicate message for a finished job without running it again', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 10 }) });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good });
      const first = await waitForState(h, id, ['succeeded']);
      await h.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: encodeQueueMessage(id) }));
      await waitFor('the duplicate to be handled', async () => running.logs.some((l) => l.jobId === id && String(l.msg).startsWith('message for a finished job')));
      const after = await getJob(h, id);
      expect(after.attempt).toBe(first.attempt);
      expect(after.finishedAt).toBe(first.finishedAt);
      await waitFor('the queue to be empty', async () => {
        const counts = await queueCounts(queueUrl);
        return counts.visible + counts.inFlight === 0;
      });
    } finally {
      await running.stop();
    }
  });

  it('leaves a job running under a live lease alone, and takes it over once the lease has run out', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const id = await seedJob(h, { queueUrl, input: inputs.good, noMessage: true });
    // Another worker claimed it and holds a lease for 3 more seconds, then "dies".
    const claimed = await jobStore(h).claim(id, 0, 'dead-worker');
    expect(claimed?.attempt).toBe(1);
    const leaseExpiresAt = Date.now() + 3000;
    await h.dynamo.send(new UpdateCommand({ TableName: h.resources.table, Key: { id }, UpdateExpression: 'SET leaseExpiresAt = :l', ExpressionAttributeValues: { ':l': leaseExpiresAt } }));
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 10 }) });
    try {
      await h.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: encodeQueueMessage(id) }));
      await waitFor('the duplicate to be hidden', async () => running.logs.some((l) => l.jobId === id && String(l.msg).startsWith('job is running under a live lease')));
      expect((await getJob(h, id)).attempt).toBe(1);
      const job = await waitForState(h, id, ['succeeded', 'failed'], 20_000);
      expect(job.state).toBe('succeeded');
      expect(job.attempt).toBe(2);
      expect(Date.now()).toBeGreaterThan(leaseExpiresAt);
      expect(running.logs.some((l) => l.jobId === id && l.msg === 'took over a job whose worker stopped heartbeating')).toBe(true);
    } finally {
      await running.stop();
    }
  });
});

describe('webhooks', () => {
  let server: Server;
  let url: string;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const secret = `whsec_${Buffer.from('worker-test-secret-32-bytes-long!').toString('base64')}`;

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends edit.started and edit.succeeded, each verifying with the standardwebhooks verifier', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 10 }), webhookSecret: secret });
    try {
      const id = await seedJob(h, { queueUrl, input: inputs.good, webhookUrl: url });
      await waitForState(h, id, ['succeeded']);
      await waitFor('two webhook events', async () => received.length >= 2);
      const verifier = new Webhook(secret);
      const events = received.map((r) => verifier.verify(r.body, r.headers as Record<string, string>) as { type: string; data: { id: string; state: string } });
      expect(events.map((e) => e.type)).toEqual(['edit.started', 'edit.succeeded']);
      expect(events.every((e) => e.data.id === id)).toBe(true);
      expect(events[1].data.state).toBe('succeeded');
      // A tampered body fails verification.
      expect(() => verifier.verify(received[1].body.replace('succeeded', 'failed'), received[1].headers as Record<string, string>)).toThrow();
    } finally {
      await running.stop();
    }
  });

  it('sends edit.failed with the error, and edit.canceled', async () => {
    const h = env.current;
    const { queueUrl } = await createTestQueue(h);
    const running = await startInProcessWorker(h, { queueUrl, engine: createFakeEngine({ stepMs: 300, steps: 30 }), webhookSecret: secret });
    const hooksFor = (id: string) =>
      received
        .map((r) => new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as { type: string; data: { id: string; error?: { code: string } } })
        .filter((e) => e.data.id === id);
    try {
      const bad = await seedJob(h, { queueUrl, input: inputs.zeroBytes, webhookUrl: url });
      await waitForState(h, bad, ['failed']);
      await waitFor('edit.failed', async () => hooksFor(bad).length === 2);
      expect(hooksFor(bad).map((e) => e.type)).toEqual(['edit.started', 'edit.failed']);
      expect(hooksFor(bad)[1].data.error?.code).toBe('input_empty');

      const canceled = await seedJob(h, { queueUrl, input: inputs.good, webhookUrl: url });
      await waitForState(h, canceled, ['running']);
      await jobStore(h).requestCancel(canceled, 'tenant_a');
      await waitForState(h, canceled, ['canceled'], 15_000);
      await waitFor('edit.canceled', async () => hooksFor(canceled).length === 2);
      expect(hooksFor(canceled).map((e) => e.type)).toEqual(['edit.started', 'edit.canceled']);
    } finally {
      await running.stop();
    }
  });
});
