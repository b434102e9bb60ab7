/**
 * The production engine (`gpu-runner/engine/index.ts`), loaded lazily: importing it pulls in onnxruntime, which
 * the health server and the queue client should not wait for.
 */
import type { EditEngine } from './engine-port.ts';

/** Relative to this file; a variable so the type checker does not need the module to exist yet. */
const ENGINE_MODULE = '../engine/index.ts';

/**
 * Import the engine and check that it has the two functions the worker calls.
 * @throws Error naming the module and the missing functions.
 */
export async function loadRealEngine(): Promise<EditEngine> {
  const engine = (await import(ENGINE_MODULE)) as Partial<EditEngine>;
  const missing = (['loadEditModel', 'editVideoFile'] as const).filter((name) => typeof engine[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(`${ENGINE_MODULE} does not export ${missing.join(' and ')}; the worker needs loadEditModel(modelDir, options) and editVideoFile(args).`);
  }
  return { loadEditModel: engine.loadEditModel!, editVideoFile: engine.editVideoFile! };
}
