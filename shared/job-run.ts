/**
 * The job record's `run` (what actually ran) read from an engine run report, and the one line the CLI, the
 * worker log and the playground say about it.
 */
import { JobRunSchema, type JobRun } from './job.ts';

/**
 * The `run` facts of a run report (gpu-runner/engine/report.ts: `ranAs`, `note`, `mask`), or null when the
 * report does not state what ran (another engine, an older report): the job then simply has no `run`.
 */
export function jobRunFromReport(report: unknown): JobRun | null {
  if (typeof report !== 'object' || report === null) return null;
  const { ranAs, note, mask } = report as { ranAs?: unknown; note?: unknown; mask?: unknown };
  const picked = {
    ranAs,
    note: typeof note === 'string' ? note : null,
    // the report's mask also has the foreground box: the job keeps only what a caller needs to judge the run
    mask: typeof mask === 'object' && mask !== null
      ? { areaFraction: (mask as { areaFraction?: unknown }).areaFraction, source: (mask as { source?: unknown }).source, words: (mask as { words?: unknown }).words }
      : null,
  };
  const parsed = JobRunSchema.safeParse(picked);
  return parsed.success ? parsed.data : null;
}

/** One line on what ran: the preset, for object-centric runs the mask's area, source and words, and why it fell back. */
export function describeJobRun(preset: string, run: JobRun): string {
  const ran = run.ranAs === preset ? `ran as ${run.ranAs}` : `asked for ${preset}, ran as ${run.ranAs}`;
  const mask = run.mask
    ? `; mask ${(run.mask.areaFraction * 100).toFixed(1)}% of the frame from ${run.mask.source === 'video' ? 'the mask video' : `the attention of "${run.mask.words.join(' ')}" (${run.mask.source})`}`
    : '';
  return `${ran}${mask}${run.note ? ` (${run.note})` : ''}`;
}
