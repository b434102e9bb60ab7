/**
 * A one-line terminal progress bar with stage, step and ETA. Redraws in place on a TTY; elsewhere
 * (CI logs, pipes) it prints a line only when the stage changes or every 10% so logs stay short.
 */
export interface ProgressUpdate {
  stage: string;
  /** Overall fraction done in [0, 1]. */
  fraction: number;
  step?: number;
  steps?: number;
}

export class ProgressBar {
  private readonly startedAt = Date.now();
  private lastStage = '';
  private lastDecile = -1;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly width = 28,
  ) {}

  update(p: ProgressUpdate): void {
    const fraction = Math.min(1, Math.max(0, p.fraction));
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const eta = fraction > 0.02 ? (elapsed * (1 - fraction)) / fraction : NaN;
    const step = p.steps ? ` ${p.step ?? 0}/${p.steps}` : '';
    const filled = Math.round(fraction * this.width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}]`;
    const line = `${bar} ${(100 * fraction).toFixed(0).padStart(3)}% ${p.stage}${step}  ${formatSeconds(elapsed)} elapsed${Number.isFinite(eta) ? `, ~${formatSeconds(eta)} left` : ''}`;
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(100)}`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (p.stage !== this.lastStage || decile !== this.lastDecile) this.out.write(`${line}\n`);
    this.lastStage = p.stage;
    this.lastDecile = decile;
  }

  done(message: string): void {
    if (this.out.isTTY) this.out.write('\r'.padEnd(101) + '\r');
    this.out.write(`${message}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
