/**
 * onnxruntime sessions: creation from a model path with device and thread settings, a cache keyed by
 * (path, options) so each graph is loaded once per process, and checked runs.
 *
 * This folder is the only place that imports onnxruntime-node (style.md habit 8).
 */
import * as ort from 'onnxruntime-node';
import { providersFor, type Device } from './providers.ts';
import { describeTensor, type TensorMap } from './tensors.ts';

/** How to create a session. */
export interface SessionOptions {
  /** @default 'cpu' */
  readonly provider?: Device;
  /** Threads inside one op. @default - onnxruntime's choice (the physical core count) */
  readonly intraOpNumThreads?: number;
  /** Threads across ops (parallel execution mode only). @default - onnxruntime's choice */
  readonly interOpNumThreads?: number;
  /** @default 'all' */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** @default true */
  readonly enableCpuMemArena?: boolean;
  /** 0 verbose .. 4 fatal. @default 3 (errors only) */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Outputs left on the device ('gpu-buffer') instead of copied to the host, by name (or all). A device output can
   * be fed to a later run of any session on the same provider without a host round trip (attention maps recorded
   * in inversion and read in editing). Only the WebGPU provider supports it in onnxruntime-node 1.30; the CPU and
   * CUDA providers hand every output to the host. @default - every output on the host
   */
  readonly deviceOutputs?: 'all' | readonly string[];
}

/** Where `runSession` reports extra feeds and failed runs. @default console */
export interface RuntimeLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** A loaded graph. Release it with `dispose()` (or all at once with `disposeAllSessions`). */
export interface ModelSession {
  readonly path: string;
  readonly provider: Device;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** @internal the underlying onnxruntime session */
  readonly inner: ort.InferenceSession;
  dispose(): Promise<void>;
}

const cache = new Map<string, Promise<ModelSession>>();

function cacheKey(path: string, options: SessionOptions): string {
  const normalized = {
    provider: options.provider ?? 'cpu',
    intraOpNumThreads: options.intraOpNumThreads,
    interOpNumThreads: options.interOpNumThreads,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    enableCpuMemArena: options.enableCpuMemArena ?? true,
    logSeverityLevel: options.logSeverityLevel ?? 3,
    deviceOutputs: options.deviceOutputs ?? null,
  };
  return `${path}\u0000${JSON.stringify(normalized)}`;
}

function checkThreads(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new Error(`${name} must be a non-negative integer (0 = onnxruntime's default); got ${value}`);
  }
}

/** onnxruntime's `preferredOutputLocation` for `deviceOutputs`, or nothing. @throws on a provider without it. */
function outputLocation(options: SessionOptions): Pick<ort.InferenceSession.SessionOptions, 'preferredOutputLocation'> {
  const wanted = options.deviceOutputs;
  if (!wanted) return {};
  const provider = options.provider ?? 'cpu';
  if (provider !== 'webgpu') {
    throw new Error(`deviceOutputs needs the webgpu provider: onnxruntime-node's ${provider} provider returns every output to the host`);
  }
  return { preferredOutputLocation: wanted === 'all' ? 'gpu-buffer' : Object.fromEntries(wanted.map((name) => [name, 'gpu-buffer' as const])) };
}

async function openSession(path: string, options: SessionOptions, key: string): Promise<ModelSession> {
  const provider = options.provider ?? 'cpu';
  const inner = await ort.InferenceSession.create(path, {
    ...outputLocation(options),
    executionProviders: [...providersFor(provider)],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    enableCpuMemArena: options.enableCpuMemArena ?? true,
    logSeverityLevel: options.logSeverityLevel ?? 3,
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.interOpNumThreads !== undefined ? { interOpNumThreads: options.interOpNumThreads } : {}),
  });
  let released = false;
  return {
    path,
    provider,
    inputNames: inner.inputNames,
    outputNames: inner.outputNames,
    inner,
    async dispose() {
      if (released) return;
      released = true;
      cache.delete(key);
      await inner.release();
    },
  };
}

/**
 * Creates (or returns the cached) session for the model at `path`; external data files (`<name>.onnx.data`)
 * are found next to it. Concurrent calls with the same path and options share one session.
 *
 * @throws Error naming the path and provider when onnxruntime cannot load the model.
 * @example const unet = await createSession('graphs/unet.onnx', { provider: 'cpu', intraOpNumThreads: 2 });
 */
export function createSession(path: string, options: SessionOptions = {}): Promise<ModelSession> {
  outputLocation(options);
  checkThreads('intraOpNumThreads', options.intraOpNumThreads);
  checkThreads('interOpNumThreads', options.interOpNumThreads);
  const key = cacheKey(path, options);
  let pending = cache.get(key);
  if (!pending) {
    pending = openSession(path, options, key).catch((error: unknown) => {
      cache.delete(key);
      throw new Error(`cannot create an onnxruntime session for ${path} on ${options.provider ?? 'cpu'}: ${(error as Error).message}`, { cause: error });
    });
    cache.set(key, pending);
  }
  return pending;
}

/** Number of sessions currently cached (for tests and diagnostics). */
export function cachedSessionCount(): number {
  return cache.size;
}

/** Releases every cached session. */
export async function disposeAllSessions(): Promise<void> {
  const sessions = await Promise.allSettled([...cache.values()]);
  await Promise.all(sessions.map((s) => (s.status === 'fulfilled' ? s.value.dispose() : undefined)));
  cache.clear();
}

/**
 * Runs a session after checking the feeds against its input names: missing inputs throw (listing them),
 * extra feeds are dropped with a warning. When the run fails, each input's dtype and dims (never the data)
 * are logged and the error is rethrown.
 *
 * @throws Error listing missing input names, or onnxruntime's error for a failed run.
 */
export async function runSession(session: ModelSession, feeds: TensorMap, logger: RuntimeLogger = console): Promise<TensorMap> {
  const missing = session.inputNames.filter((name) => !(name in feeds));
  if (missing.length > 0) {
    throw new Error(`${session.path}: missing inputs ${missing.join(', ')}; the graph takes ${session.inputNames.join(', ')}`);
  }
  const extra = Object.keys(feeds).filter((name) => !session.inputNames.includes(name));
  if (extra.length > 0) logger.warn(`${session.path}: ignoring feeds the graph does not take: ${extra.join(', ')}`);
  const used: TensorMap = {};
  for (const name of session.inputNames) used[name] = feeds[name];
  try {
    const outputs = await session.inner.run(used);
    countTraffic(used, outputs);
    return outputs;
  } catch (error) {
    const inputs = session.inputNames.map((name) => `${name}: ${describeTensor(used[name])}`).join('; ');
    logger.error(`${session.path}: run failed with inputs ${inputs}`);
    throw error;
  }
}

/** Bytes that crossed between host and device in runs so far: host feeds in, host outputs out. */
export interface HostTraffic {
  /** Host-resident feeds (on a GPU provider each is copied to the device). */
  readonly feedBytes: number;
  /** Outputs handed to the host (on a GPU provider each is copied from the device). */
  readonly outputBytes: number;
  /** Feeds and outputs that stayed on the device ('gpu-buffer'), which cost no host copy. */
  readonly deviceBytes: number;
  readonly runs: number;
}

const traffic = { feedBytes: 0, outputBytes: 0, deviceBytes: 0, runs: 0 };

function tensorBytes(tensor: ort.Tensor): number {
  return tensor.size * ({ float32: 4, float16: 2, int64: 8, int32: 4, bool: 1 } as Record<string, number>)[tensor.type];
}

function countTraffic(feeds: TensorMap, outputs: TensorMap): void {
  traffic.runs++;
  for (const t of Object.values(feeds)) {
    if (t.location === 'gpu-buffer') traffic.deviceBytes += tensorBytes(t);
    else traffic.feedBytes += tensorBytes(t);
  }
  for (const t of Object.values(outputs)) {
    if (t.location === 'gpu-buffer') traffic.deviceBytes += tensorBytes(t);
    else traffic.outputBytes += tensorBytes(t);
  }
}

/**
 * The host traffic of every `runSession` in this process so far (a snapshot). On the CPU provider every byte is
 * "host"; on a GPU provider it is what crosses the bus. Subtract two snapshots to measure a stretch of work.
 */
export function hostTraffic(): HostTraffic {
  return { ...traffic };
}
