/**
 * The queue loop: long-poll one message, decide what it means for its job, run the job, repeat; and the
 * SIGTERM drain (stop polling, let the current job finish within the grace period, else hand it back).
 *
 * What a received message can mean:
 * - not a `{v:1, jobId}` body: logged and left alone, so it ends in the dead-letter queue; no job is touched;
 * - no such job, or the job already finished: a duplicate or stale message, deleted;
 * - the job is running under a live lease: an SQS duplicate while its worker is alive; hidden until the lease
 *   would run out, so that it takes the job over if that worker dies;
 * - queued, or running under an expired lease (its worker died): claimed with a conditional write and run.
 */
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { TERMINAL_STATES } from './job-port.ts';
import type { ReceivedMessage } from './job-queue.ts';
import { JobRun, type JobRunDeps, type JobRunSettings } from './job-run.ts';
import { describeError } from './logger.ts';

export interface WorkerDeps extends JobRunDeps {
  /** Called after a receive that brought nothing (the worker is idle); errors are logged. */
  onIdle?: () => Promise<void>;
}

export interface WorkerSettings extends JobRunSettings {
  /** Long-poll wait per receive (SQS maximum 20). @default 20 */
  waitSeconds: number;
  /** After SIGTERM, how long the current job may run on before it is handed back. */
  graceSeconds: number;
}

export class Worker {
  private stopping = false;
  private readonly pollAbort = new AbortController();
  private current: JobRun | undefined;
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly settings: WorkerSettings,
  ) {}

  /** The job running now, if any. */
  get currentJobId(): string | undefined {
    return this.current?.jobId;
  }

  /** Poll and run jobs until `stop`. Resolves when the loop has ended. */
  run(): Promise<void> {
    this.loop ??= this.poll();
    return this.loop;
  }

  /**
   * Stop polling; let the current job finish within the grace period, else hand it back. Resolves when the loop
   * has ended. Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    this.stopped ??= this.drain();
    return this.stopped;
  }

  private async drain(): Promise<void> {
    this.stopping = true;
    this.pollAbort.abort();
    const log = this.deps.logger;
    const loop = this.loop ?? Promise.resolve();
    if (this.current) log.info('draining: letting the current job finish', { jobId: this.current.jobId, graceSeconds: this.settings.graceSeconds });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace_over'>((resolve) => {
      timer = setTimeout(() => resolve('grace_over'), this.settings.graceSeconds * 1000);
    });
    const first = await Promise.race([loop.then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'grace_over' && this.current) {
      log.warn('grace period over: handing the job back', { jobId: this.current.jobId });
      this.current.stop('shutdown');
    }
    await loop;
  }

  private async poll(): Promise<void> {
    const { queue, logger, protection } = this.deps;
    let failures = 0;
    while (!this.stopping) {
      try {
        const message = await queue.receive(this.settings.waitSeconds, this.pollAbort.signal);
        failures = 0;
        if (!message) {
          if (!this.stopping) await this.deps.onIdle?.().catch((error: unknown) => logger.warn('idle task failed', { error: describeError(error) }));
          continue;
        }
        if (this.stopping) {
          // Received as the drain began: give it straight back.
          await queue.setVisibility(message, 0).catch(() => {});
          break;
        }
        await this.handle(message);
        await protection.set(false);
      } catch (error) {
        // The queue or table is unreachable: wait a little longer each time, then poll again.
        failures++;
        logger.error('poll failed', { error: describeError(error), failures });
        await sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)), this.pollAbort.signal);
      }
    }
    logger.info('worker stopped polling');
  }

  private async handle(message: ReceivedMessage): Promise<void> {
    const { queue, jobs, logger } = this.deps;
    let jobId: string;
    try {
      jobId = decodeQueueMessage(message.body).jobId;
    } catch (error) {
      logger.error('malformed queue message: leaving it for the dead-letter queue', {
        messageId: message.messageId,
        receiveCount: message.receiveCount,
        error: describeError(error),
      });
      return;
    }
    const log = logger.child({ jobId, messageId: message.messageId });
    const job = await jobs.get(jobId);
    if (!job) {
      log.warn('message for a job that does not exist (expired or deleted): deleting it');
      await queue.delete(message);
      return;
    }
    if (TERMINAL_STATES.includes(job.state)) {
      log.info('message for a finished job (a duplicate or redelivery): deleting it', { state: job.state });
      await queue.delete(message);
      return;
    }
    const now = Date.now();
    if (job.state === 'running' && job.leaseExpiresAt !== undefined && job.leaseExpiresAt > now) {
      const seconds = Math.ceil((job.leaseExpiresAt - now) / 1000) + 1;
      log.info('job is running under a live lease elsewhere: hiding the duplicate message', { seconds });
      await queue.setVisibility(message, seconds);
      return;
    }
    const claimed = await jobs.claim(job, this.settings.owner, this.settings.visibilitySeconds * 1000);
    if (!claimed) {
      log.info('another worker changed the job first; leaving the message');
      return;
    }
    if (job.state === 'running') log.warn('took over a job whose worker stopped heartbeating', { previousAttempt: job.attempt });
    this.current = new JobRun(this.deps, this.settings, claimed, message);
    try {
      await this.current.execute();
    } finally {
      this.current = undefined;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
