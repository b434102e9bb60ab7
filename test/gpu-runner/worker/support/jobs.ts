/**
 * Helpers for worker tests against the loopback emulators: a queue with a dead-letter queue and short
 * visibility, jobs seeded the way the API creates them (upload in S3, record in DynamoDB, message in SQS), and
 * in-process workers built from the same parts as `worker-process.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { resolveEditOptions, type EditRequest } from '../../../../shared/edit-request.ts';
import type { JobInput, JobRecord } from '../../../../shared/job.ts';
import { JobStore } from '../../../../shared/job-store.ts';
import { encodeQueueMessage } from '../../../../shared/queue-message.ts';
import { jobOutputKey, uploadKey } from '../../../../shared/s3-keys.ts';
import { createS3ArtifactStore, type ArtifactStore } from '../../../../gpu-runner/worker/artifact-store.ts';
import { createDynamoJobPort } from '../../../../gpu-runner/worker/dynamo-job-port.ts';
import type { EditEngine } from '../../../../gpu-runner/worker/engine-port.ts';
import { checkInputVideo } from '../../../../gpu-runner/worker/input-check.ts';
import type { WorkerJobPort } from '../../../../gpu-runner/worker/job-port.ts';
import type { ControlNetProblem } from '../../../../gpu-runner/worker/job-run.ts';
import { createSqsJobQueue } from '../../../../gpu-runner/worker/job-queue.ts';
import { createLogger, type Logger } from '../../../../gpu-runner/worker/logger.ts';
import { createScaleInProtection } from '../../../../gpu-runner/worker/scale-in-protection.ts';
import { WebhookSender } from '../../../../gpu-runner/worker/webhooks.ts';
import { Worker, type WorkerSettings } from '../../../../gpu-runner/worker/worker.ts';
import type { EmulatorHarness } from '../../../support/emulators.ts';
import { queuedJobRecord } from '../../../support/job-records.ts';

export const TENANT = 'tenant_a';

/** A fresh queue with its own dead-letter queue. */
export async function createTestQueue(
  h: EmulatorHarness,
  options: { visibilitySeconds?: number; maxReceiveCount?: number } = {},
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const name = `q-${randomBytes(4).toString('hex')}`;
  const dlq = await h.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const arn = await h.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
  const queue = await h.sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilitySeconds ?? 5),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn.Attributes!.QueueArn, maxReceiveCount: options.maxReceiveCount ?? 3 }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

export interface SeedJobOptions {
  queueUrl: string;
  /** The input's bytes (a file read by the caller) or undefined to leave the upload missing. */
  input: Buffer | undefined;
  request?: Partial<EditRequest>;
  webhookUrl?: string;
  /** A mask upload: its bytes, or 'missing' for a record that names an upload that is not there. */
  mask?: Buffer | 'missing';
  /** A control video upload (ControlVideo editor): its bytes, or 'missing'. */
  control?: Buffer | 'missing';
  /** Skip the queue message (the test sends its own). */
  noMessage?: boolean;
}

/** Create a job the way the API does: upload, record (queued, attempt 0), message. Returns its id. */
export async function seedJob(h: EmulatorHarness, options: SeedJobOptions): Promise<string> {
  const id = `job_${randomBytes(8).toString('hex')}`;
  const uploadId = `up_${randomBytes(8).toString('hex')}`;
  const key = uploadKey(TENANT, uploadId);
  if (options.input) {
    await h.s3.send(new PutObjectCommand({ Bucket: h.resources.bucket, Key: key, Body: options.input, ContentType: 'video/mp4' }));
  }
  const mask = options.mask ? await seedUpload(h, options.mask) : null;
  const control = options.control ? await seedUpload(h, options.control) : null;
  const request: EditRequest = {
    sourcePrompt: 'a brown bear walking',
    targetPrompt: 'a red tiger walking',
    preset: 'optimized',
    sampler: { steps: 6 },
    frames: { count: 4 },
    ...options.request,
  };
  const record = queuedJobRecord(id, {
    tenant: TENANT,
    request,
    options: resolveEditOptions(request, { hasMaskVideo: mask !== null, hasControlVideo: control !== null }),
    input: { uploadId, key, bytes: options.input?.length ?? 0, contentType: 'video/mp4' },
    mask,
    control,
    webhookUrl: options.webhookUrl ?? null,
  });
  await jobStore(h).create(record);
  if (!options.noMessage) {
    await h.sqs.send(new SendMessageCommand({ QueueUrl: options.queueUrl, MessageBody: encodeQueueMessage(id) }));
  }
  return id;
}

/** A secondary upload (mask, control video) as the job record names it; 'missing' names one that is not there. */
async function seedUpload(h: EmulatorHarness, body: Buffer | 'missing'): Promise<JobInput> {
  const uploadId = `up_${randomBytes(8).toString('hex')}`;
  const key = uploadKey(TENANT, uploadId);
  if (body !== 'missing') await h.s3.send(new PutObjectCommand({ Bucket: h.resources.bucket, Key: key, Body: body, ContentType: 'video/mp4' }));
  return { uploadId, key, bytes: body === 'missing' ? 0 : body.length, contentType: 'video/mp4' };
}

export function jobStore(h: EmulatorHarness): JobStore {
  return new JobStore({ client: h.dynamo, table: h.resources.table });
}

export async function getJob(h: EmulatorHarness, id: string): Promise<JobRecord & { leaseExpiresAt?: number }> {
  const job = await jobStore(h).get(id);
  if (!job) throw new Error(`job ${id} not found`);
  return job;
}

/** Poll `check` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** Wait until the job reaches one of `states`; returns the record. */
export function waitForState(h: EmulatorHarness, id: string, states: JobRecord['state'][], timeoutMs = 30_000) {
  return waitFor(`job ${id} to reach ${states.join('|')}`, async () => {
    const job = await getJob(h, id);
    return states.includes(job.state) ? job : undefined;
  }, timeoutMs);
}

export const WORKER_TEST_SETTINGS = {
  visibilitySeconds: 4,
  heartbeatSeconds: 1,
  progressIntervalMs: 200,
  cancelCheckMs: 300,
  cancelCheckMinMs: 50,
  jobDeadlineSeconds: 60,
  maxReceiveCount: 3,
  retryDelaySeconds: 0,
  waitSeconds: 1,
  graceSeconds: 10,
} as const;

export interface InProcessWorker {
  worker: Worker;
  logs: Record<string, unknown>[];
  metrics: Record<string, unknown>[];
  done: Promise<void>;
  stop(): Promise<void>;
}

/** A worker in this process, built from the same parts as `worker-process.ts`. */
export async function startInProcessWorker(
  h: EmulatorHarness,
  options: {
    queueUrl: string;
    engine: EditEngine;
    settings?: Partial<WorkerSettings>;
    webhookSecret?: string;
    webhookInitialDelayMs?: number;
    logger?: Logger;
    /** The ECS agent endpoint for scale-in protection. @default - none (protection off) */
    ecsAgentUri?: string;
    /** Wrap the real S3 artifact store or job port, e.g. to hold a stage open while the test acts. */
    wrapArtifacts?: (real: ArtifactStore) => ArtifactStore;
    wrapJobs?: (real: WorkerJobPort) => WorkerJobPort;
    /** Why this worker has no ControlNet. @default - it has one */
    controlnetProblem?: ControlNetProblem;
  },
): Promise<InProcessWorker> {
  const logs: Record<string, unknown>[] = [];
  const metrics: Record<string, unknown>[] = [];
  const logger = options.logger ?? createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const workRoot = await mkdtemp(join(tmpdir(), 'ocd-worker-test-'));
  const owner = `test-${randomBytes(3).toString('hex')}`;
  const worker = new Worker(
    {
      queue: createSqsJobQueue(h.sqs, options.queueUrl),
      jobs: (options.wrapJobs ?? ((real) => real))(createDynamoJobPort({ store: jobStore(h), client: h.dynamo, table: h.resources.table })),
      artifacts: (options.wrapArtifacts ?? ((real) => real))(createS3ArtifactStore(h.s3, h.resources.bucket)),
      engine: options.engine,
      model: await options.engine.loadEditModel('unused', { provider: 'cpu', cacheDir: workRoot }),
      webhooks: new WebhookSender({ secret: options.webhookSecret, allowPrivate: true, logger, initialDelayMs: options.webhookInitialDelayMs ?? 100 }),
      protection: createScaleInProtection({ agentUri: options.ecsAgentUri, logger }),
      logger,
      outputKeys: (jobId) => ({
        outputKey: jobOutputKey(jobId, 'video'),
        previewKey: jobOutputKey(jobId, 'preview'),
        reportKey: jobOutputKey(jobId, 'report'),
      }),
      emitMetrics: (record) => metrics.push(record),
      checkInput: checkInputVideo,
      controlnetProblem: options.controlnetProblem,
    },
    { ...WORKER_TEST_SETTINGS, owner, workRoot, ...options.settings },
  );
  const done = worker.run();
  return { worker, logs, metrics, done, stop: () => worker.stop() };
}

/** A small valid clip's bytes. */
export async function readBytes(path: string): Promise<Buffer> {
  return readFile(path);
}
