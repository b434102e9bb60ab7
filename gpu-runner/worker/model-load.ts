/**
 * Loading the worker's model at start: the base model, and the ControlVideo editor's ControlNet beside it when one
 * is configured. A ControlNet that cannot be had does not stop the worker: FateZero jobs still run, and ControlVideo
 * jobs fail at once with `controlnet_invalid` (or `controlnet_missing` when none is configured) and the reason.
 */
import type { EditEngine, EditModel, EngineProvider } from './engine-port.ts';
import type { ControlNetProblem } from './job-run.ts';
import { describeError, type Logger } from './logger.ts';

export interface LoadedModel {
  model: EditModel;
  /** Absent when the ControlNet is loaded. */
  controlnetProblem?: ControlNetProblem;
}

export interface LoadModelOptions {
  provider: EngineProvider;
  cacheDir: string;
  /** Resolves the ControlNet folder (model-source.ts): undefined when none is configured; throws when it cannot be had. */
  controlnetDir: () => Promise<string | undefined>;
  logger: Logger;
}

const MISSING: ControlNetProblem = {
  code: 'controlnet_missing',
  message: "This runner has no ControlNet configured, so the 'controlvideo' editor cannot run; the operator sets OCD_CONTROLNET_DIR or OCD_CONTROLNET_URI (a diffusers ControlNetModel folder). Use a FateZero preset meanwhile.",
};

/**
 * Load the model, with the ControlNet when it can be had.
 * @throws whatever `engine.loadEditModel` throws for the base model (the worker then takes no jobs).
 */
export async function loadWorkerModel(engine: EditEngine, modelDir: string, options: LoadModelOptions): Promise<LoadedModel> {
  const base = { provider: options.provider, cacheDir: options.cacheDir };
  let controlnetDir: string | undefined;
  try {
    controlnetDir = await options.controlnetDir();
  } catch (error) {
    return { model: await engine.loadEditModel(modelDir, base), controlnetProblem: unusable(error, options.logger) };
  }
  if (controlnetDir === undefined) return { model: await engine.loadEditModel(modelDir, base), controlnetProblem: MISSING };
  try {
    return { model: await engine.loadEditModel(modelDir, { ...base, controlnetDir }) };
  } catch (error) {
    // Only the ControlNet's own failure is survivable; a base model that does not load stops the worker as before.
    if ((error as { code?: unknown }).code !== 'controlnet_invalid') throw error;
    return { model: await engine.loadEditModel(modelDir, base), controlnetProblem: unusable(error, options.logger) };
  }
}

function unusable(error: unknown, logger: Logger): ControlNetProblem {
  logger.error('ControlNet unavailable: ControlVideo jobs will fail with controlnet_invalid; FateZero jobs run', { error: describeError(error) });
  const reason = error instanceof Error ? error.message : String(error);
  return { code: 'controlnet_invalid', message: `The runner's ControlNet could not be loaded, so the 'controlvideo' editor cannot run: ${reason}` };
}
