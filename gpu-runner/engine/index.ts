/**
 * The engine's runner-facing API: load a model once, then edit frames (`runEdit`) or a video file
 * (`editVideoFile`: decode -> edit -> encode output, preview and report.json). Every path comes in as an argument.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { basename, join } from 'node:path';
import type { EditOptions } from '../../shared/edit-request.ts';
import { decodeMask, decodeVideo, encodeVideo, outputSpan, writePreview } from '../video/index.ts';
import { defaultMemoryBudget } from './attention-store.ts';
import { cannyControlFrames } from '../control/control-image.ts';
import { decodeControlVideo } from '../control/control-video.ts';
import type { DecodedVideo } from '../video/decode.ts';
import { CONTROLVIDEO_DEFAULTS } from './controlvideo/defaults.ts';
import { EngineError, throwIfCanceled } from './errors.ts';
import type { EditModel } from './model.ts';
import { type EditProgress, runEdit, type RunEditResult } from './pipeline.ts';
import type { EditReport } from './report.ts';

export { loadEditModel, type LoadEditModelOptions } from './load-model.ts';
export { runEdit, type EditProgress, type FrameSet, type RunEditArgs, type RunEditResult } from './pipeline.ts';
export { EngineError } from './errors.ts';
export { runControlVideo, type RunControlVideoArgs } from './controlvideo/run.ts';
export type { EditModel } from './model.ts';
export type { EditReport, StageTimes } from './report.ts';
export { formatTimingTable } from './report.ts';
export { resolveOptions } from './presets.ts';

export interface EditVideoFileArgs {
  readonly inputPath: string;
  /** mask video (white = edit), aligned to the input's frames */
  readonly maskPath?: string;
  /**
   * ControlVideo: a control video (depth, pose, line-art maps: what the loaded ControlNet expects), one map per input
   * frame, for `options.control = {type: 'video'}`. With `{type: 'canny'}` the maps are computed from the frames.
   */
  readonly controlPath?: string;
  /** output folder: output.mp4, preview.mp4, report.json */
  readonly outDir: string;
  readonly options: EditOptions;
  readonly model: EditModel;
  readonly onProgress?: (p: EditProgress) => void;
  readonly signal?: AbortSignal;
  /** Bytes of attention maps kept in memory before spilling to `<outDir>/.attention`. @default - half the free memory */
  readonly storeBudgetBytes?: number;
  /** Also return the decoded input, the edited frames and latents (benchmarks, quality measures). @default false */
  readonly keepData?: boolean;
}

export interface EditVideoFileResult {
  readonly outputPath: string;
  readonly previewPath: string;
  readonly reportPath: string;
  readonly report: EditReport;
  /** present with `keepData` */
  readonly data?: { input: Uint8Array[]; output: Uint8Array[]; width: number; height: number; latents: RunEditResult['latents']; latentMask?: Float32Array; control?: Uint8Array[] };
}

const seconds = (start: number) => (performance.now() - start) / 1000;

/** Nearest upsampling of a latent mask [F, h, w] to per-frame pixel maps [H, W]. */
function maskPanels(mask: Float32Array, frames: number, h: number, w: number, H: number, W: number): Float32Array[] {
  return Array.from({ length: frames }, (_, f) => {
    const out = new Float32Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = mask[(f * h + Math.floor((y * h) / H)) * w + Math.floor((x * w) / W)];
    return out;
  });
}

/**
 * ControlVideo's control maps for the decoded clip: canny edges of its frames, or the control video decoded to the
 * same frames and size.
 * @throws EngineError('invalid_request') when a control video is asked for but not given; VideoInputError
 *   `control_unreadable` / `control_frame_count` / `control_size` for an unusable control video.
 */
async function controlMaps(args: EditVideoFileArgs, video: DecodedVideo): Promise<Uint8Array[]> {
  const control = args.options.control;
  if (control?.type === 'video') {
    if (!args.controlPath) throw new EngineError('invalid_request', "control is {type: 'video'} but no control video was given; pass one, or use {type: 'canny'}.");
    const decoded = await decodeControlVideo(args.controlPath, video, { signal: args.signal });
    return decoded.frames;
  }
  const thresholds = control?.type === 'canny' ? control : CONTROLVIDEO_DEFAULTS.canny;
  return cannyControlFrames(video.frames, video.width, video.height, { low: thresholds.low, high: thresholds.high });
}

/**
 * Edits a video file: decode (frame selection, resize and crop to the working size), edit with the options' editor
 * (FateZero, or ControlVideo on canny maps of the frames or on `controlPath`), then write the H.264 output with the
 * input's audio, the preview (input | mask | output; ControlVideo: input | control | mask if any | output) and
 * report.json.
 * @throws VideoInputError with a stable code for unusable inputs/masks/control videos; EngineError('canceled') on
 *   cancellation, EngineError('controlnet_missing') for a ControlVideo edit on a model loaded without a ControlNet.
 * @example
 * const model = await loadEditModel(modelDir, { provider: 'cpu', cacheDir });
 * const { outputPath } = await editVideoFile({ inputPath: 'clip.mp4', outDir: 'out', options, model });
 */
export async function editVideoFile(args: EditVideoFileArgs): Promise<EditVideoFileResult> {
  const { options, model } = args;
  if (options.editor === 'controlvideo' && !model.controlnet) {
    throw new EngineError('controlnet_missing', "The 'controlvideo' editor needs a ControlNet, and none was loaded with the model; configure a ControlNet folder (OCD_CONTROLNET_DIR, or --controlnet <dir> on the CLI).");
  }
  mkdirSync(args.outDir, { recursive: true });
  let start = performance.now();
  args.onProgress?.({ stage: 'decode', step: 0, steps: 1 });
  const video = await decodeVideo(args.inputPath, {
    maxFrames: options.frames.count,
    selection: options.frames.selection,
    samplingRate: options.frames.samplingRate,
    square: options.frames.square,
    size: options.size ?? model.facts.defaultSize,
    signal: args.signal,
  });
  const mask = args.maskPath ? await decodeMask(args.maskPath, video, { signal: args.signal }) : null;
  const decodeSeconds = seconds(start);
  throwIfCanceled(args.signal, 'decoding');

  let maskData: Float32Array | undefined;
  if (mask) {
    maskData = new Float32Array(mask.masks.length * video.width * video.height);
    mask.masks.forEach((m, f) => maskData!.set(m, f * m.length));
  }
  const spillDir = join(args.outDir, '.attention');
  const control = options.editor === 'controlvideo' ? await controlMaps(args, video) : undefined;
  const result = await runEdit({
    input: { frames: video.frames, width: video.width, height: video.height },
    control: control && { frames: control, width: video.width, height: video.height },
    mask: maskData,
    options,
    model,
    onProgress: args.onProgress,
    signal: args.signal,
    spillDir,
    storeBudgetBytes: args.storeBudgetBytes ?? defaultMemoryBudget(freemem()),
  });

  rmSync(spillDir, { recursive: true, force: true });
  start = performance.now();
  args.onProgress?.({ stage: 'encode', step: 0, steps: 1 });
  const span = outputSpan(video);
  const audioFrom = { path: args.inputPath, startSeconds: span.startSeconds, durationSeconds: span.durationSeconds };
  const outputPath = join(args.outDir, 'output.mp4');
  const previewPath = join(args.outDir, 'preview.mp4');
  await encodeVideo(result.frames, { width: video.width, height: video.height, fps: video.fpsRational, outPath: outputPath, audioFrom, signal: args.signal });
  const [, , h, w] = result.latents.dims;
  const panels = mask ? mask.masks : result.latentMask ? maskPanels(result.latentMask, result.frames.length, h, w, video.height, video.width) : null;
  await writePreview({ input: video.frames, output: result.frames, masks: panels, control, width: video.width, height: video.height, fps: video.fpsRational, outPath: previewPath, audioFrom, signal: args.signal });
  const report: EditReport = { ...result.report, stages: { decode: decodeSeconds, ...result.report.stages, encode: seconds(start) } };
  const reportPath = join(args.outDir, 'report.json');
  writeFileSync(reportPath, `${JSON.stringify({ ...report, input: { file: basename(args.inputPath), fps: video.fps, sourceFrameIndices: video.sourceFrameIndices, geometry: video.geometry } }, null, 2)}\n`);
  const data = args.keepData
    ? { input: video.frames, output: result.frames, width: video.width, height: video.height, latents: result.latents, latentMask: result.latentMask, control }
    : undefined;
  return { outputPath, previewPath, reportPath, report, data };
}
