/**
 * What the worker needs from the editing engine, as an interface, so the job lifecycle can be tested with a fast
 * fake and run in production with `gpu-runner/engine` (see `real-engine.ts`).
 */
import type { EditOptions } from '../../shared/edit-request.ts';

/**
 * Where the engine runs: onnxruntime's CUDA provider on the GPU image, WebGPU where a Vulkan driver is all there
 * is, the CPU elsewhere; 'auto' takes the first of those that works.
 */
export type EngineProvider = 'cpu' | 'cuda' | 'webgpu' | 'auto';

/** A loaded model: graphs built, sessions warm. Kept across jobs; released once at shutdown. */
export interface EditModel {
  /** What the model loaded with, e.g. the device 'auto' resolved to (for the log). */
  readonly facts?: { readonly provider?: string };
  dispose(): Promise<void> | void;
}

/** One progress tick of the engine: `step` of `steps` in `stage` (e.g. 'invert', 'edit'). */
export interface EngineProgress {
  stage: string;
  step: number;
  steps: number;
}

/** What one edit produced: three files in `outDir` and the report that `reportPath` holds. */
export interface EditResult {
  outputPath: string;
  previewPath: string;
  reportPath: string;
  report: unknown;
}

export interface EditVideoFileArgs {
  inputPath: string;
  maskPath?: string;
  /** The ControlVideo editor's control video (`options.control.type === 'video'`). */
  controlPath?: string;
  outDir: string;
  options: EditOptions;
  model: EditModel;
  /** Called once per UNet step; must return at once (the worker writes progress in the background). */
  onProgress?: (progress: EngineProgress) => void;
  /** Aborted on cancel, deadline, lost ownership or shutdown; the engine stops between steps. */
  signal?: AbortSignal;
}

/**
 * The two engine functions the worker calls.
 *
 * Errors the worker relies on: an error whose `code` is one of the input codes (`input_*`, `mask_*`, `control_*`)
 * for bad input, `controlnet_invalid` from `loadEditModel` for a ControlNet folder it cannot load, and one with
 * code `'canceled'` when `signal` aborted the run.
 */
export interface EditEngine {
  /** `controlnetDir`: a diffusers ControlNetModel folder loaded beside the model, for the ControlVideo editor. */
  loadEditModel(modelDir: string, options: { provider: EngineProvider; cacheDir: string; threads?: number; controlnetDir?: string }): Promise<EditModel>;
  editVideoFile(args: EditVideoFileArgs): Promise<EditResult>;
}
