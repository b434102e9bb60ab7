/**
 * What both editors count for the report (method.md §7): model calls, token-steps, wall time per stage (graph
 * building and session creation kept apart as `load`), and peak RSS.
 */

/** Counters of one run. */
export interface RunCounters {
  unetCalls: number;
  /** Σ over model calls of batch items x latent pixels */
  tokenSteps: number;
  stageSeconds: Record<string, number>;
  peakRss: number;
  /** seconds spent building graphs and opening sessions (kept out of the stage that triggered them) */
  loadSeconds: number;
}

export const nowSeconds = (): number => performance.now() / 1000;

/** Fresh counters, peak RSS starting at the current RSS. */
export function createCounters(): RunCounters {
  return { unetCalls: 0, tokenSteps: 0, stageSeconds: {}, peakRss: process.memoryUsage().rss, loadSeconds: 0 };
}

/**
 * A function that runs a stage and adds its wall time to `stageSeconds[stage]`, less the graph loading that happened
 * inside it (added to `stageSeconds.load` instead).
 */
export function stageTimer(counters: RunCounters): <T>(stage: string, body: () => Promise<T> | T) => Promise<T> {
  return async (stage, body) => {
    const start = nowSeconds();
    const loadBefore = counters.loadSeconds;
    try {
      return await body();
    } finally {
      const load = counters.loadSeconds - loadBefore;
      counters.stageSeconds[stage] = (counters.stageSeconds[stage] ?? 0) + nowSeconds() - start - load;
      if (load > 0) counters.stageSeconds.load = (counters.stageSeconds.load ?? 0) + load;
      counters.peakRss = Math.max(counters.peakRss, process.memoryUsage().rss);
    }
  };
}

/** Runs `body` (graph building, session opening) and counts its time as load. */
export async function countLoad<T>(counters: RunCounters, body: () => Promise<T>): Promise<T> {
  const start = nowSeconds();
  try {
    return await body();
  } finally {
    counters.loadSeconds += nowSeconds() - start;
  }
}

/** Counts one model call of `batch` items on a `height` x `width` latent grid. */
export function countCall(counters: RunCounters, batch: number, height: number, width: number): void {
  counters.unetCalls++;
  counters.tokenSteps += batch * height * width;
  counters.peakRss = Math.max(counters.peakRss, process.memoryUsage().rss);
}
