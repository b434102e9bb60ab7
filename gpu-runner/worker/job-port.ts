/**
 * The worker's view of the jobs table: exactly the reads and conditional writes the job lifecycle needs.
 * `dynamo-job-port.ts` implements it over the shared job store; every write is conditional on the job's state
 * and attempt, so a worker that lost its job (taken over after a missed heartbeat) can never overwrite it.
 */
import type { EditOptions } from '../../shared/edit-request.ts';
import type { JobErrorCode } from '../../shared/errors.ts';
import type { JobRun } from '../../shared/job.ts';

export type WorkerJobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

export const TERMINAL_STATES: readonly WorkerJobState[] = ['succeeded', 'failed', 'canceled'];

/** What the worker reads from a job record. */
export interface WorkerJob {
  id: string;
  state: WorkerJobState;
  /** Incremented by every claim; the fencing token of the run that owns the job. */
  attempt: number;
  createdAt: string;
  /** S3 keys of the uploaded input, optional mask and optional control video. */
  inputKey: string;
  maskKey?: string;
  controlKey?: string;
  options: EditOptions;
  webhookUrl?: string;
  cancelRequested: boolean;
  /** Epoch ms until which the owning run's heartbeat holds the job (only while running). */
  leaseExpiresAt?: number;
}

export interface JobProgressUpdate {
  stage: string;
  step: number;
  steps: number;
  /** Overall 0..1. */
  fraction: number;
}

/** What a heartbeat or progress write tells the run. */
export interface OwnershipCheck {
  /** False when another run took the job or it left `running`: stop at once, write nothing more. */
  owned: boolean;
  cancelRequested: boolean;
}

export interface JobOutputsWritten {
  outputKey: string;
  previewKey: string;
  reportKey: string;
}

export interface WorkerJobPort {
  get(jobId: string): Promise<WorkerJob | undefined>;
  /**
   * Claim the job for a new run: `queued -> running`, or take over `running` whose lease has expired (its worker
   * died). Conditional on the state and attempt read in `job`; returns the job as claimed (attempt + 1), or
   * undefined when another worker changed it first.
   */
  claim(job: WorkerJob, owner: string, leaseMs: number): Promise<WorkerJob | undefined>;
  /** Extend the lease of run `attempt`. */
  renewLease(jobId: string, attempt: number, leaseMs: number): Promise<OwnershipCheck>;
  reportProgress(jobId: string, attempt: number, progress: JobProgressUpdate): Promise<OwnershipCheck>;
  isCancelRequested(jobId: string, attempt: number): Promise<OwnershipCheck>;
  /**
   * The run's end states; each returns false when the run no longer owns the job. `timings`: seconds per stage;
   * `run`: what actually ran (preset, fallback note, mask), from the engine's report.
   */
  markSucceeded(jobId: string, attempt: number, outputs: JobOutputsWritten, timings: Record<string, number>, run?: JobRun | null): Promise<boolean>;
  markFailed(jobId: string, attempt: number, error: { code: JobErrorCode; message: string }): Promise<boolean>;
  markCanceled(jobId: string, attempt: number): Promise<boolean>;
  /** `running -> queued` with progress reset, for another worker to pick up. */
  handBack(jobId: string, attempt: number): Promise<boolean>;
}
