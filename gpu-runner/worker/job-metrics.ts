/**
 * One CloudWatch Embedded Metric Format record per job: a JSON log line that CloudWatch turns into metrics
 * (namespace `OCD/Worker`) while keeping the job id and preset searchable as plain fields.
 * Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

export type JobOutcome = 'succeeded' | 'failed' | 'canceled' | 'handed_back' | 'retrying';

export interface JobMetrics {
  jobId: string;
  outcome: JobOutcome;
  /** The job's error code when it failed. */
  errorCode?: string;
  preset?: string;
  frames?: number;
  /** From job creation to the claim. */
  queueWaitMs?: number;
  /** From the claim to the end of this run. */
  runMs: number;
  /** Wall time per stage: the worker's own (download, upload) and the engine's (from its progress ticks). */
  stageMs: Record<string, number>;
  attempt?: number;
}

export const METRICS_NAMESPACE = 'OCD/Worker';

/** Build the EMF object for one job (serialize it as one line). */
export function buildJobMetricsRecord(metrics: JobMetrics, now: Date = new Date()): Record<string, unknown> {
  const values: Record<string, number> = { RunTime: metrics.runMs, Jobs: 1 };
  const units: Record<string, string> = { RunTime: 'Milliseconds', Jobs: 'Count' };
  if (metrics.queueWaitMs !== undefined) {
    values.QueueWait = metrics.queueWaitMs;
    units.QueueWait = 'Milliseconds';
  }
  if (metrics.frames !== undefined) {
    values.Frames = metrics.frames;
    units.Frames = 'Count';
  }
  for (const [stage, ms] of Object.entries(metrics.stageMs)) {
    const name = `Stage_${stage.replace(/[^A-Za-z0-9_]/g, '_')}`;
    values[name] = Math.round(ms);
    units[name] = 'Milliseconds';
  }
  return {
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          // Outcome alone answers "how many failed"; Preset x Outcome compares the presets' run times.
          Dimensions: [['Outcome'], ['Preset', 'Outcome']],
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: units[Name] })),
        },
      ],
    },
    Outcome: metrics.outcome,
    Preset: metrics.preset ?? 'unknown',
    jobId: metrics.jobId,
    ...(metrics.errorCode ? { errorCode: metrics.errorCode } : {}),
    ...(metrics.attempt !== undefined ? { attempt: metrics.attempt } : {}),
    ...values,
  };
}

/** Adds up wall time per named stage; entering a stage ends the previous one. */
export class StageTimer {
  readonly totals: Record<string, number> = {};
  private current: { name: string; since: number } | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  enter(name: string): void {
    if (this.current?.name === name) return;
    this.stop();
    this.current = { name, since: this.now() };
  }

  /** End the running stage (if any). */
  stop(): void {
    if (!this.current) return;
    const { name, since } = this.current;
    this.totals[name] = (this.totals[name] ?? 0) + (this.now() - since);
    this.current = undefined;
  }
}
