/**
 * One run of one claimed job, from download to the end state: heartbeat, deadline, cancel checks, the engine,
 * uploads, the final conditional write, the webhook and the message's fate.
 *
 * A run ends in exactly one way:
 * - succeeded, failed (input error, deadline, or last allowed receive), canceled: the job record says so, the
 *   message is deleted (except after the last receive, where it is left for the dead-letter queue);
 * - handed back (shutdown) or retrying (transient error): the job is `queued` again and the message visible
 *   again (at once, or after a delay);
 * - lost: another run took the job over; this run writes nothing more and leaves the message alone.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { INPUT_ERROR_CODES, type JobErrorCode } from '../../shared/errors.ts';
import { describeJobRun, jobRunFromReport } from '../../shared/job-run.ts';
import { publicMessage } from '../../shared/public-message.ts';
import type { ArtifactStore } from './artifact-store.ts';
import { MissingObjectError } from './artifact-store.ts';
import type { EditEngine, EditModel, EngineProgress } from './engine-port.ts';
import type { JobOutputsWritten, OwnershipCheck, WorkerJob, WorkerJobPort } from './job-port.ts';
import { buildJobMetricsRecord, StageTimer, type JobOutcome } from './job-metrics.ts';
import type { JobQueue, ReceivedMessage } from './job-queue.ts';
import { describeError, type Logger } from './logger.ts';
import { ProgressReporter } from './progress-reporter.ts';
import type { ScaleInProtection } from './scale-in-protection.ts';
import type { WebhookEventType, WebhookSender } from './webhooks.ts';

/** Why a run was stopped from outside the engine. */
export type StopReason = 'canceled' | 'timeout' | 'lost' | 'shutdown';

/**
 * Error codes that mean "this job will never work here": the job fails at once, no retry. A missing or unloadable
 * ControlNet is the worker's configuration, the same on every worker of a deployment, so a retry would fail alike.
 */
const PERMANENT_CODES: ReadonlySet<string> = new Set<JobErrorCode>([...INPUT_ERROR_CODES, 'invalid_request', 'controlnet_missing', 'controlnet_invalid']);

/** Why this worker cannot run the ControlVideo editor; absent when its ControlNet is loaded. */
export interface ControlNetProblem {
  code: 'controlnet_missing' | 'controlnet_invalid';
  message: string;
}

export interface JobRunDeps {
  queue: JobQueue;
  jobs: WorkerJobPort;
  artifacts: ArtifactStore;
  engine: EditEngine;
  model: EditModel;
  webhooks: WebhookSender;
  protection: ScaleInProtection;
  logger: Logger;
  /** S3 keys of a job's outputs (shared/s3-keys.ts). */
  outputKeys: (jobId: string) => JobOutputsWritten;
  /** Where the per-job EMF record goes (one JSON line). */
  emitMetrics: (record: Record<string, unknown>) => void;
  /**
   * Checks a downloaded file is a video before the engine starts (ffprobe, `input-check.ts`); throws an error
   * with a stable input code when it is not.
   * @default - none: the engine's own decode is then the first to read the file
   */
  checkInput?: (path: string, role: 'input' | 'mask' | 'control') => Promise<void>;
  /**
   * Set when the worker has no ControlNet (none configured, or it failed to load): ControlVideo jobs then fail at
   * once with this code instead of reaching the engine.
   * @default - a ControlNet is loaded (or the engine decides)
   */
  controlnetProblem?: ControlNetProblem;
}

export interface JobRunSettings {
  /** This worker's id, recorded as the job's owner. */
  owner: string;
  /** Parent folder of per-job scratch folders. */
  workRoot: string;
  /** Message visibility and job lease, renewed by each heartbeat. */
  visibilitySeconds: number;
  heartbeatSeconds: number;
  progressIntervalMs: number;
  /** Background cancel check period (progress ticks also trigger checks, at most one per `cancelCheckMinMs`). */
  cancelCheckMs: number;
  cancelCheckMinMs: number;
  jobDeadlineSeconds: number;
  /** The queue's redrive limit: on this receive a transient failure fails the job. */
  maxReceiveCount: number;
  /** Visibility delay before a transiently failed job is tried again. */
  retryDelaySeconds: number;
}

export class JobRun {
  private readonly controller = new AbortController();
  private readonly log: Logger;
  private readonly timer = new StageTimer();
  private readonly progress: ProgressReporter;
  private readonly runId: string;
  private cancelCheckRunning = false;
  private lastCancelCheckAt = 0;
  private frames: number | undefined;
  /** The engine's own stage times (seconds), finer than what its progress ticks show. */
  private engineStages: Record<string, number> | undefined;
  /** Set once the run has reached its end: late heartbeat or cancel-check answers are ignored. */
  private finished = false;

  constructor(
    private readonly deps: JobRunDeps,
    private readonly settings: JobRunSettings,
    private readonly job: WorkerJob,
    private readonly message: ReceivedMessage,
    private readonly claimedAt: number = Date.now(),
  ) {
    this.log = deps.logger.child({ jobId: job.id, attempt: job.attempt });
    this.runId = `${settings.owner}#${job.attempt}`;
    this.progress = new ProgressReporter(
      async (update) => this.observe(await deps.jobs.reportProgress(job.id, job.attempt, update)),
      (error) => this.log.warn('progress write failed', { error: describeError(error) }),
      settings.progressIntervalMs,
    );
  }

  get jobId(): string {
    return this.job.id;
  }

  /** Stop the run at the engine's next step; the first reason given wins. */
  stop(reason: StopReason): void {
    if (!this.controller.signal.aborted) {
      this.log.info('stopping the run', { reason });
      this.controller.abort(reason);
    }
  }

  /** Run the job to one of its ends (see the file comment). Never throws. */
  async execute(): Promise<JobOutcome | 'lost'> {
    const { settings, deps, job } = this;
    const signal = this.controller.signal;
    this.log.info('job started', { receiveCount: this.message.receiveCount, preset: job.options.preset });
    void deps.protection.set(true);
    const heartbeat = setInterval(() => void this.heartbeat(), settings.heartbeatSeconds * 1000);
    const cancelPoll = setInterval(() => this.checkCancel(), settings.cancelCheckMs);
    const deadline = setTimeout(() => this.stop('timeout'), settings.jobDeadlineSeconds * 1000);
    // The message came with the queue's default visibility: stretch it to ours before anything slow.
    await this.heartbeat();
    if (!signal.aborted) this.notify('edit.started', { state: 'running', attempt: job.attempt });
    let outcome: JobOutcome | 'lost' = 'retrying';
    let errorCode: string | undefined;
    let workDir: string | undefined;
    try {
      workDir = await mkdtemp(join(settings.workRoot, `job-${job.id}-`));
      outcome = await this.runToSuccess(workDir, signal);
    } catch (error) {
      // Writes still in flight must not land after the end state (they would fail their condition anyway).
      await this.progress.settle();
      ({ outcome, errorCode } = await this.conclude(error));
    } finally {
      this.finished = true;
      clearInterval(heartbeat);
      clearInterval(cancelPoll);
      clearTimeout(deadline);
      this.timer.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    }
    if (outcome !== 'lost') {
      deps.emitMetrics(
        buildJobMetricsRecord({
          jobId: job.id,
          outcome,
          errorCode,
          preset: job.options.preset,
          frames: this.frames,
          queueWaitMs: Math.max(0, this.claimedAt - Date.parse(job.createdAt)),
          runMs: Date.now() - this.claimedAt,
          stageMs: Object.fromEntries(Object.entries(this.stageSeconds()).map(([stage, s]) => [stage, s * 1000])),
          attempt: job.attempt,
        }),
      );
    }
    this.log.info('job ended', { outcome, errorCode });
    return outcome;
  }

  private async runToSuccess(workDir: string, signal: AbortSignal): Promise<JobOutcome> {
    const { deps, job } = this;
    if (job.options.editor === 'controlvideo' && deps.controlnetProblem) {
      throw withCode(new Error(deps.controlnetProblem.message), deps.controlnetProblem.code);
    }
    this.enterStage('download');
    const inputPath = join(workDir, 'input');
    await deps.artifacts.download(job.inputKey, inputPath, signal);
    await deps.checkInput?.(inputPath, 'input');
    let maskPath: string | undefined;
    if (job.maskKey) {
      maskPath = join(workDir, 'mask');
      await deps.artifacts.download(job.maskKey, maskPath, signal).catch((error: unknown) => {
        throw error instanceof MissingObjectError ? withCode(error, 'mask_unreadable') : error;
      });
      await deps.checkInput?.(maskPath, 'mask');
    }
    let controlPath: string | undefined;
    if (job.controlKey) {
      controlPath = join(workDir, 'control');
      await deps.artifacts.download(job.controlKey, controlPath, signal).catch((error: unknown) => {
        throw error instanceof MissingObjectError ? withCode(error, 'control_unreadable') : error;
      });
      await deps.checkInput?.(controlPath, 'control');
    }
    this.throwIfStopped();
    const outDir = join(workDir, 'out');
    await mkdir(outDir);
    const result = await deps.engine.editVideoFile({
      inputPath,
      maskPath,
      controlPath,
      outDir,
      options: job.options,
      model: deps.model,
      signal,
      onProgress: (tick) => this.onEngineProgress(tick),
    });
    this.frames = framesOf(result.report);
    this.engineStages = engineStageSeconds(result.report);
    // What actually ran (an ocd edit without a usable mask runs as optimized): the job record says so.
    const ran = jobRunFromReport(result.report);
    if (ran) this.log.info('edit ran', { ranAs: ran.ranAs, summary: describeJobRun(job.options.preset, ran) });

    this.enterStage('upload');
    this.throwIfStopped();
    const keys = deps.outputKeys(job.id);
    // Which run wrote an object, so that "outputs come from exactly one run" can be checked.
    const metadata = { 'run-id': this.runId };
    await deps.artifacts.upload(keys.outputKey, result.outputPath, 'video/mp4', metadata);
    await deps.artifacts.upload(keys.previewKey, result.previewPath, 'video/mp4', metadata);
    await deps.artifacts.upload(keys.reportKey, result.reportPath, 'application/json', metadata);
    this.throwIfStopped();
    await this.progress.settle();
    this.timer.stop();
    const stored = await deps.jobs.markSucceeded(job.id, job.attempt, keys, this.stageSeconds(), ran);
    if (!stored) {
      // Refused: either a cancel was acknowledged first (it wins: the job ends canceled, outputs removed) or
      // another run owns the job now.
      const check = await deps.jobs.isCancelRequested(job.id, job.attempt).catch(() => ({ owned: false, cancelRequested: false }));
      this.controller.abort(check.owned && check.cancelRequested ? 'canceled' : 'lost');
      throw new Error('the job could not be marked succeeded: canceled or changed hands first');
    }
    this.notify('edit.succeeded', { state: 'succeeded', attempt: job.attempt });
    await deps.queue.delete(this.message);
    return 'succeeded';
  }

  /** Turn whatever stopped the run into the job's end state and the message's fate. */
  private async conclude(error: unknown): Promise<{ outcome: JobOutcome | 'lost'; errorCode?: string }> {
    const { deps, job, settings } = this;
    const reason = this.controller.signal.aborted ? (this.controller.signal.reason as StopReason) : undefined;
    try {
      switch (reason) {
        case 'lost':
          this.log.warn('another run owns the job now; leaving it alone', { error: describeError(error) });
          return { outcome: 'lost' };
        case 'canceled':
          await this.deleteOutputs();
          if (!(await deps.jobs.markCanceled(job.id, job.attempt))) return { outcome: 'lost' };
          this.notify('edit.canceled', { state: 'canceled' });
          await deps.queue.delete(this.message);
          return { outcome: 'canceled', errorCode: 'canceled' };
        case 'timeout':
          return await this.fail('timeout', `The edit ran longer than the per-job deadline of ${settings.jobDeadlineSeconds} s; try fewer frames, fewer steps or a smaller size.`);
        case 'shutdown':
          await deps.jobs.handBack(job.id, job.attempt);
          await deps.queue.setVisibility(this.message, 0);
          return { outcome: 'handed_back' };
      }
      const code = permanentCode(error);
      if (code) return await this.fail(code, messageOf(error, code));
      this.log.error('job run failed', { error: describeError(error), receiveCount: this.message.receiveCount });
      if (this.message.receiveCount >= settings.maxReceiveCount) {
        // The next receive would move the message to the dead-letter queue: the job must not stay running.
        await this.fail('internal', `The edit failed ${this.message.receiveCount} times on internal errors; the last was: ${errorText(error)}`, { keepMessage: true });
        return { outcome: 'failed', errorCode: 'internal' };
      }
      await deps.jobs.handBack(job.id, job.attempt);
      await deps.queue.setVisibility(this.message, settings.retryDelaySeconds);
      return { outcome: 'retrying' };
    } catch (concludeError) {
      // The end state could not be written (the store or queue is down): the message comes back and the job
      // is claimed again once its lease has run out.
      this.log.error('could not record the end of the run', { error: describeError(concludeError), cause: describeError(error) });
      return { outcome: 'retrying' };
    }
  }

  private async fail(code: JobErrorCode, detail: string, options: { keepMessage?: boolean } = {}): Promise<{ outcome: JobOutcome | 'lost'; errorCode?: string }> {
    // Callers see this message (job record, webhook): no temp paths, model folder, storage keys or stack frames.
    const message = publicMessage(detail);
    if (!(await this.deps.jobs.markFailed(this.job.id, this.job.attempt, { code, message }))) return { outcome: 'lost' };
    this.notify('edit.failed', { state: 'failed', error: { code, message } });
    if (!options.keepMessage) await this.deps.queue.delete(this.message);
    return { outcome: 'failed', errorCode: code };
  }

  /**
   * Seconds per stage: the worker's own (download, upload) plus the engine's report when it has stage times,
   * else what the engine's progress ticks showed.
   */
  private stageSeconds(): Record<string, number> {
    const measured = timingsInSeconds(this.timer.totals);
    if (!this.engineStages) return measured;
    const own = Object.fromEntries(Object.entries(measured).filter(([stage]) => stage === 'download' || stage === 'upload'));
    return { ...own, ...this.engineStages };
  }

  private onEngineProgress(tick: EngineProgress): void {
    this.enterStage(tick.stage, tick);
    this.checkCancel();
  }

  private enterStage(stage: string, tick: EngineProgress = { stage, step: 0, steps: 1 }): void {
    this.timer.enter(stage);
    this.progress.tick(tick);
  }

  /** Lease first, then visibility: the lease then always ends before the message can be seen again. */
  private async heartbeat(): Promise<void> {
    try {
      this.observe(await this.deps.jobs.renewLease(this.job.id, this.job.attempt, this.settings.visibilitySeconds * 1000));
      if (this.controller.signal.reason === 'lost') return;
      await this.deps.queue.setVisibility(this.message, this.settings.visibilitySeconds);
    } catch (error) {
      this.log.warn('heartbeat failed', { error: describeError(error) });
    }
  }

  /** At most one check at a time and one per `cancelCheckMinMs`; results arrive asynchronously. */
  private checkCancel(): void {
    const now = Date.now();
    if (this.cancelCheckRunning || now - this.lastCancelCheckAt < this.settings.cancelCheckMinMs) return;
    this.cancelCheckRunning = true;
    this.lastCancelCheckAt = now;
    this.deps.jobs
      .isCancelRequested(this.job.id, this.job.attempt)
      .then((check) => this.observe(check))
      .catch((error: unknown) => this.log.warn('cancel check failed', { error: describeError(error) }))
      .finally(() => {
        this.cancelCheckRunning = false;
      });
  }

  private observe(check: OwnershipCheck): void {
    if (this.finished) return;
    if (!check.owned) this.stop('lost');
    else if (check.cancelRequested) this.stop('canceled');
  }

  private throwIfStopped(): void {
    if (this.controller.signal.aborted) throw withCode(new Error(`run stopped: ${String(this.controller.signal.reason)}`), 'canceled');
  }

  private async deleteOutputs(): Promise<void> {
    const keys = this.deps.outputKeys(this.job.id);
    for (const key of [keys.outputKey, keys.previewKey, keys.reportKey]) {
      await this.deps.artifacts.delete(key).catch((error: unknown) => this.log.warn('could not delete an output', { key, error: describeError(error) }));
    }
  }

  private notify(type: WebhookEventType, data: Record<string, unknown>): void {
    if (this.job.webhookUrl) void this.deps.webhooks.send(this.job.webhookUrl, { type, jobId: this.job.id, data });
  }
}

/** The stable job code of an error that no retry can fix, or undefined. */
export function permanentCode(error: unknown): JobErrorCode | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && PERMANENT_CODES.has(code)) return code as JobErrorCode;
  return error instanceof MissingObjectError ? 'input_unreadable' : undefined;
}

function messageOf(error: unknown, code: JobErrorCode): string {
  if (error instanceof MissingObjectError) {
    return 'The uploaded file is gone (it expired or was deleted); upload it again and create a new edit.';
  }
  return errorText(error) || `The input was rejected (${code}).`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code });
}

/** Stage times as the job record keeps them: seconds, to the millisecond. */
function timingsInSeconds(totals: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(totals).map(([stage, ms]) => [stage, Math.round(ms) / 1000]));
}

/** The frame count from an engine report, when it states one. */
function framesOf(report: unknown): number | undefined {
  const r = report as { frames?: unknown; video?: { frames?: unknown }; input?: { frames?: unknown } } | undefined;
  for (const candidate of [r?.frames, r?.video?.frames, r?.input?.frames]) {
    if (typeof candidate === 'number') return candidate;
    if (candidate && typeof candidate === 'object' && typeof (candidate as { count?: unknown }).count === 'number') {
      return (candidate as { count: number }).count;
    }
  }
  return undefined;
}

/** The report's stage names (camelCase) as the job record names them (shared/job.ts JOB_STAGES). */
const REPORT_STAGE_NAMES: Readonly<Record<string, string>> = { vaeEncode: 'vae_encode', vaeDecode: 'vae_decode' };

/** `report.stages` (seconds per stage), when the engine's report has it. */
export function engineStageSeconds(report: unknown): Record<string, number> | undefined {
  const stages = (report as { stages?: unknown } | undefined)?.stages;
  if (!stages || typeof stages !== 'object') return undefined;
  const entries = Object.entries(stages).filter((entry): entry is [string, number] => typeof entry[1] === 'number' && entry[1] >= 0);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([stage, s]) => [REPORT_STAGE_NAMES[stage] ?? stage, Math.round(s * 1000) / 1000]));
}
