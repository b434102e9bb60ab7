/**
 * Throttled progress: the engine ticks once per UNet step (many per second on a GPU); the job record gets at
 * most one write per `intervalMs`, never two at once, and always the latest tick.
 */
import type { EngineProgress } from './engine-port.ts';
import type { JobProgressUpdate } from './job-port.ts';

/**
 * Where each engine stage sits in the whole run (0..1). Stages not listed keep the last fraction reached, so the
 * overall fraction never goes backwards whatever stage names the engine uses.
 */
export const STAGE_SPANS: Readonly<Record<string, readonly [number, number]>> = Object.freeze({
  // The stage names of shared/job.ts (JOB_STAGES), in pipeline order.
  download: [0, 0.02],
  decode: [0.02, 0.05],
  text: [0.05, 0.07],
  vae_encode: [0.07, 0.1],
  inversion: [0.1, 0.5],
  edit: [0.5, 0.92],
  vae_decode: [0.92, 0.95],
  encode: [0.95, 0.97],
  upload: [0.97, 1],
})

/** The overall fraction for one tick, given the highest fraction reached so far. */
export function overallFraction(progress: EngineProgress, reached: number): number {
  const span = STAGE_SPANS[progress.stage];
  if (!span) return reached;
  const within = progress.steps > 0 ? Math.min(1, Math.max(0, progress.step / progress.steps)) : 0;
  return Math.max(reached, span[0] + (span[1] - span[0]) * within);
}

export class ProgressReporter {
  private latest: JobProgressUpdate | undefined;
  private written: JobProgressUpdate | undefined;
  private lastWriteAt = -Infinity;
  private writing: Promise<void> | undefined;
  private reached = 0;

  /**
   * @param write stores one update; rejections are passed to `onError` and do not stop later writes.
   * @param intervalMs least time between two writes. @default 2000
   */
  constructor(
    private readonly write: (update: JobProgressUpdate) => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly intervalMs = 2000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Record a tick; writes it if the interval has passed and no write is running. Returns at once. */
  tick(progress: EngineProgress): void {
    this.reached = overallFraction(progress, this.reached);
    this.latest = { ...progress, fraction: Number(this.reached.toFixed(4)) };
    this.maybeWrite();
  }

  /** Wait for a running write (call before the run's final state write). */
  async settle(): Promise<void> {
    await this.writing;
  }

  private maybeWrite(): void {
    if (this.writing || !this.latest || this.latest === this.written) return;
    // Skipped ticks are not lost: the next tick or the run's final write carries them.
    if (this.now() - this.lastWriteAt < this.intervalMs) return;
    const update = this.latest;
    this.lastWriteAt = this.now();
    this.written = update;
    this.writing = this.write(update)
      .catch(this.onError)
      .finally(() => {
        this.writing = undefined;
      });
  }
}
