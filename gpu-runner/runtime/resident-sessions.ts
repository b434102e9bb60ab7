/**
 * A bounded set of open sessions for graph variants of one model. Each variant of a UNet (record, edit,
 * foreground crop) is its own ONNX graph, and onnxruntime copies a graph's weights into every session it opens:
 * two open variants hold two copies. onnxruntime-node offers no way to share initializers between sessions
 * (measured: neither one side file for both graphs nor one in-memory `externalData` buffer avoids the copy; see
 * BENCHMARKS.md, "Weights, attention memory and the GPU path"). So variants open lazily, on their first run, and
 * opening one beyond `limit` releases the least recently used: the pipeline uses its variants stage by stage,
 * and each is opened once per edit with one copy of the weights resident at a time.
 */
import { createSession, runSession, type ModelSession, type SessionOptions, type RuntimeLogger } from './session.ts';
import type { TensorMap } from './tensors.ts';

/** One graph whose session the set opens and closes. */
export interface ResidentGraph {
  readonly path: string;
  /** Runs the graph, opening its session first when it is not open. */
  run(feeds: TensorMap, logger?: RuntimeLogger): Promise<TensorMap>;
  /** Names read from the graph's session (opens it once when not yet known). */
  names(): Promise<{ inputNames: readonly string[]; outputNames: readonly string[] }>;
}

interface Entry {
  readonly path: string;
  session?: Promise<ModelSession>;
  lastUsed: number;
  running: number;
}

/** Counters for tests and reports. */
export interface ResidentStats {
  /** Sessions opened so far (reopenings included). */
  readonly opened: number;
  /** Sessions released to make room. */
  readonly evicted: number;
  /** Sessions open now. */
  readonly open: number;
}

/**
 * At most `limit` sessions open at once among the graphs it hands out (Infinity keeps every one open).
 * @example const unets = new ResidentSessions(1, { provider: 'cpu' }); const g = unets.graph(path); await g.run(feeds);
 */
export class ResidentSessions {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private opened = 0;
  private evicted = 0;

  constructor(readonly limit: number, private readonly options: SessionOptions = {}) {
    if (!(limit >= 1)) throw new Error(`ResidentSessions limit must be at least 1 (Infinity keeps every session); got ${limit}`);
  }

  /** The handle of the graph at `path` (no session is opened yet). */
  graph(path: string): ResidentGraph {
    let entry = this.entries.get(path);
    if (!entry) {
      entry = { path, lastUsed: 0, running: 0 };
      this.entries.set(path, entry);
    }
    const e = entry;
    return {
      path,
      run: async (feeds, logger) => {
        e.running++;
        try {
          const session = await this.open(e);
          return await runSession(session, feeds, logger);
        } finally {
          e.running--;
        }
      },
      names: async () => {
        e.running++;
        try {
          const session = await this.open(e);
          return { inputNames: session.inputNames, outputNames: session.outputNames };
        } finally {
          e.running--;
        }
      },
    };
  }

  stats(): ResidentStats {
    return { opened: this.opened, evicted: this.evicted, open: [...this.entries.values()].filter((e) => e.session).length };
  }

  /**
   * Releases idle sessions until one more fits within the limit: call it before building a new variant's graph,
   * so the builder's memory and the weights it reads are not added on top of a session about to be evicted anyway.
   */
  async makeRoomForOne(): Promise<void> {
    await this.evictFor(undefined);
  }

  /** Releases every open session (the handles stay usable and reopen on their next run). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.release(e)));
  }

  private async open(entry: Entry): Promise<ModelSession> {
    entry.lastUsed = ++this.clock;
    if (!entry.session) {
      // make room first, so the old copy of the weights is gone before the new one is read
      await this.evictFor(entry);
      this.opened++;
      entry.session = createSession(entry.path, this.options);
      entry.session.catch(() => { entry.session = undefined; });
    }
    return entry.session;
  }

  private async evictFor(entry: Entry | undefined): Promise<void> {
    const open = [...this.entries.values()].filter((e) => e !== entry && e.session);
    // sessions in the middle of a run are never released; the limit is exceeded instead
    const idle = open.filter((e) => e.running === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (let excess = open.length + 1 - this.limit; excess > 0 && idle.length > 0; excess--) {
      this.evicted++;
      await this.release(idle.shift() as Entry);
    }
  }

  private async release(entry: Entry): Promise<void> {
    const pending = entry.session;
    entry.session = undefined;
    if (!pending) return;
    try {
      await (await pending).dispose();
    } catch {
      // a session that failed to open has nothing to release
    }
  }
}
