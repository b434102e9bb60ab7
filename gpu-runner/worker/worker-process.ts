/**
 * One worker process, assembled: health server, model, clients, the loop, signal handling and the orderly exit.
 * `main.ts` calls it with the real engine; tests call it with a fake one.
 */
import { randomBytes } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDynamoDBDocumentClient, createS3Client, createSQSClient } from '../../shared/aws.ts';
import type { WorkerConfig } from '../../shared/config.ts';
import { JobStore } from '../../shared/job-store.ts';
import { jobOutputKey } from '../../shared/s3-keys.ts';
import { sweepUnsent } from '../../shared/unsent-jobs.ts';
import { createS3ArtifactStore } from './artifact-store.ts';
import { deadLetterQueueUrl, sweepDeadLetters } from './dead-letter-sweep.ts';
import { createDynamoJobPort } from './dynamo-job-port.ts';
import type { EditEngine, EditModel } from './engine-port.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';
import { checkInputVideo } from './input-check.ts';
import { createSqsJobQueue } from './job-queue.ts';
import { createLogger, describeError, type Logger } from './logger.ts';
import { loadWorkerModel } from './model-load.ts';
import { resolveControlNetDir, resolveModelDir } from './model-source.ts';
import type { ControlNetProblem } from './job-run.ts';
import { createScaleInProtection } from './scale-in-protection.ts';
import { WebhookSender } from './webhooks.ts';
import { Worker, type WorkerSettings } from './worker.ts';

/** Tuning flags (`--name value`); the defaults suit production. */
export const WORKER_FLAGS = {
  'visibility-seconds': { default: 120, help: 'message visibility and job lease, renewed by each heartbeat' },
  'heartbeat-seconds': { default: 30, help: 'heartbeat period (well under the visibility)' },
  'wait-seconds': { default: 20, help: 'SQS long-poll wait (0..20)' },
  'retry-delay-seconds': { default: 10, help: 'delay before a transiently failed job is tried again' },
  'progress-interval-ms': { default: 2000, help: 'least time between two progress writes' },
  'cancel-check-ms': { default: 1000, help: 'background cancel check period' },
  'max-receive-count': { default: 3, help: "used when the queue has no redrive policy to read it from" },
  'webhook-attempts': { default: 5, help: 'tries per webhook event' },
  'webhook-initial-delay-ms': { default: 1000, help: 'wait before the second webhook try; doubles after' },
  'shutdown-webhook-drain-ms': { default: 5000, help: 'how long the exit waits for webhook deliveries' },
  'dead-letter-sweep-seconds': { default: 300, help: 'least time between two looks through the dead-letter queue (when idle)' },
  'unsent-sweep-seconds': { default: 30, help: 'least time between two looks for jobs whose create died before sending their message (when idle)' },
} as const;
export type WorkerFlagName = keyof typeof WORKER_FLAGS;

/**
 * Parse the tuning flags.
 * @throws Error naming the flag, the value and what is allowed.
 */
export function parseWorkerFlags(argv: string[]): Record<WorkerFlagName, number> {
  const names = Object.keys(WORKER_FLAGS) as WorkerFlagName[];
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])),
    strict: true,
  });
  const flags = {} as Record<WorkerFlagName, number>;
  for (const name of names) {
    const raw = values[name];
    const value = raw === undefined ? WORKER_FLAGS[name].default : Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`--${name} ${String(raw)} is not a non-negative number (${WORKER_FLAGS[name].help}; default ${WORKER_FLAGS[name].default}).`);
    }
    flags[name] = value;
  }
  if (flags['heartbeat-seconds'] >= flags['visibility-seconds']) {
    throw new Error(`--heartbeat-seconds ${flags['heartbeat-seconds']} must be less than --visibility-seconds ${flags['visibility-seconds']}, or messages reappear while their job runs.`);
  }
  return flags;
}

export interface WorkerProcessOptions {
  argv: string[];
  config: WorkerConfig;
  /** `ECS_AGENT_URI`, set by the ECS agent; scale-in protection is off without it. */
  ecsAgentUri?: string;
  loadEngine: () => Promise<EditEngine>;
  logger?: Logger;
}

/**
 * Run the worker until SIGTERM/SIGINT. Returns the exit code: 0 after an orderly drain, 1 when the model could
 * not be loaded (the orchestrator restarts the task; queued jobs wait in the queue meanwhile).
 */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<number> {
  const { config } = options;
  const flags = parseWorkerFlags(options.argv);
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const logger = options.logger ?? createLogger({ bindings: { worker: owner } });
  const health: HealthServer | undefined = config.healthPort === undefined ? undefined : await startHealthServer(config.healthPort, config.healthHost);
  if (health) logger.info('health server listening', { port: health.port });
  const s3 = createS3Client(config.aws);
  const sqs = createSQSClient(config.aws);
  const dynamo = createDynamoDBDocumentClient(config.aws);
  const closeClients = () => {
    s3.destroy();
    sqs.destroy();
    dynamo.destroy();
  };

  let stopRequested = false;
  // Filled once the model is loaded; a signal before that only sets stopRequested.
  const started: { worker?: Worker } = {};
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info('signal received: draining', { signal });
    stopRequested = true;
    health?.setPhase('draining');
    void started.worker?.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let engine: EditEngine;
  let model: EditModel;
  let controlnetProblem: ControlNetProblem | undefined;
  try {
    const modelDir = await resolveModelDir({ modelDir: config.modelDir, modelUri: config.modelUri, cacheDir: config.modelCacheDir, s3, logger });
    const loadStarted = Date.now();
    engine = await options.loadEngine();
    ({ model, controlnetProblem } = await loadWorkerModel(engine, modelDir, {
      provider: config.provider,
      cacheDir: join(config.modelCacheDir, 'graphs'),
      controlnetDir: () => resolveControlNetDir({ controlnetDir: config.controlnetDir, controlnetUri: config.controlnetUri, cacheDir: config.modelCacheDir, s3, logger }),
      logger,
    }));
    logger.info('model loaded', { modelDir, provider: model.facts?.provider ?? config.provider, controlnet: controlnetProblem?.code ?? 'loaded', ms: Date.now() - loadStarted });
  } catch (error) {
    logger.error('model unavailable: this worker takes no jobs', { error: describeError(error) });
    health?.setPhase('failed', error instanceof Error ? error.message : String(error));
    await health?.close();
    closeClients();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return 1;
  }
  health?.setPhase(stopRequested ? 'draining' : 'ready');

  const queue = createSqsJobQueue(sqs, config.queueUrl);
  const redrive = await queue.redrivePolicy().catch((error: unknown) => {
    logger.warn('could not read the queue redrive policy', { error: describeError(error) });
    return undefined;
  });
  const maxReceiveCount = redrive?.maxReceiveCount ?? flags['max-receive-count'];
  const store = new JobStore({ client: dynamo, table: config.table });
  const dlqUrl = redrive ? await deadLetterQueueUrl(sqs, redrive.deadLetterTargetArn).catch(() => undefined) : undefined;
  let lastSweepAt = -Infinity;
  let lastUnsentSweepAt = -Infinity;
  const onIdle = async () => {
    if (Date.now() - lastUnsentSweepAt >= flags['unsent-sweep-seconds'] * 1000) {
      lastUnsentSweepAt = Date.now();
      const settled = await sweepUnsent({ store, send: async (body) => void (await sqs.send(new SendMessageCommand({ QueueUrl: config.queueUrl, MessageBody: body }))) });
      for (const { jobId, outcome } of settled) logger.warn('settled a job its create left without a queue message', { jobId, outcome });
    }
    if (!dlqUrl || Date.now() - lastSweepAt < flags['dead-letter-sweep-seconds'] * 1000) return;
    lastSweepAt = Date.now();
    await sweepDeadLetters({ sqs, dlqUrl, store, logger });
  };
  const webhooks = new WebhookSender({
    secret: config.webhookSecret,
    allowPrivate: config.allowPrivateWebhooks,
    logger,
    maxAttempts: flags['webhook-attempts'],
    initialDelayMs: flags['webhook-initial-delay-ms'],
  });
  const protection = createScaleInProtection({
    agentUri: options.ecsAgentUri,
    logger,
    expiresInMinutes: Math.min(2880, Math.ceil(config.jobDeadlineSeconds / 60) + 10),
  });
  const workRoot = await mkdtemp(join(tmpdir(), 'ocd-worker-'));
  const settings: WorkerSettings = {
    owner,
    workRoot,
    visibilitySeconds: flags['visibility-seconds'],
    heartbeatSeconds: flags['heartbeat-seconds'],
    progressIntervalMs: flags['progress-interval-ms'],
    cancelCheckMs: flags['cancel-check-ms'],
    cancelCheckMinMs: Math.min(250, flags['cancel-check-ms']),
    jobDeadlineSeconds: config.jobDeadlineSeconds,
    maxReceiveCount,
    retryDelaySeconds: flags['retry-delay-seconds'],
    waitSeconds: Math.min(20, flags['wait-seconds']),
    graceSeconds: config.graceSeconds,
  };
  const worker = new Worker(
    {
      queue,
      jobs: createDynamoJobPort({ store, client: dynamo, table: config.table }),
      artifacts: createS3ArtifactStore(s3, config.bucket),
      engine,
      model,
      webhooks,
      protection,
      logger,
      outputKeys: (jobId) => ({
        outputKey: jobOutputKey(jobId, 'video'),
        previewKey: jobOutputKey(jobId, 'preview'),
        reportKey: jobOutputKey(jobId, 'report'),
      }),
      emitMetrics: (record) => process.stdout.write(JSON.stringify(record) + '\n'),
      checkInput: checkInputVideo,
      controlnetProblem,
      onIdle,
    },
    settings,
  );
  started.worker = worker;
  logger.info('worker ready', { queueUrl: config.queueUrl, maxReceiveCount, visibilitySeconds: settings.visibilitySeconds, graceSeconds: settings.graceSeconds });
  if (stopRequested) void worker.stop();
  await worker.run();

  await webhooks.drain(flags['shutdown-webhook-drain-ms']);
  await protection.set(false);
  await Promise.resolve(model.dispose()).catch((error: unknown) => logger.warn('model dispose failed', { error: describeError(error) }));
  await rm(workRoot, { recursive: true, force: true });
  await health?.close();
  closeClients();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logger.info('worker exited cleanly');
  return 0;
}
