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
import { throwIfCanceled } from './errors.ts';
import type { EditModel } from './model.ts';
import { type EditProgress, runEdit, type RunEditResult } from './pipeline.ts';
import type { EditReport } from './report.ts';

export { loadEditModel, type LoadEditModelOptions } from './load-model.ts';
export { runEdit, type EditProgress, type FrameSet, type RunEditArgs, type RunEditResult } from './pipeline.ts';
export { EngineError } from './errors.ts';
export type { EditModel } from './model.ts';
export type { EditReport, StageTimes } from './report.ts';
export { formatTimingTable } from './report.ts';
export { resolveOptions } from './presets.ts';

export interface EditVideoFileArgs {
  readonly inputPath: string;
  /** mask video (white = edit), aligned to the input's frames */
  readonly maskPath?: string;
  /** ControlVideo's control video (depth, pose, ... maps), aligned to the input's frames, when `options.control.type` is 'video' */
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
  readonly data?: { input: Uint8Array[]; output: Uint8Array[]; width: number; height: number; latents: RunEditResult['latents']; latentMask?: Float32Array };
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
 * Edits a video file: decode (frame selection, resize and crop to the working size), edit, then write the H.264
 * output with the input's audio, the input | mask | output preview and report.json.
 * @throws VideoInputError with a stable code for unusable inputs/masks; EngineError('canceled') on cancellation.
 * @example
 * const model = await loadEditModel(modelDir, { provider: 'cpu', cacheDir });
 * const { outputPath } = await editVideoFile({ inputPath: 'clip.mp4', outDir: 'out', options, model });
 */
export async function editVideoFile(args: EditVideoFileArgs): Promise<EditVideoFileResult> {
  const { options, model } = args;
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
  const result = await runEdit({
    input: { frames: video.frames, width: video.width, height: video.height },
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
  await writePreview({ input: video.frames, output: result.frames, masks: panels, width: video.width, height: video.height, fps: video.fpsRational, outPath: previewPath, audioFrom, signal: args.signal });
  const report: EditReport = { ...result.report, stages: { decode: decodeSeconds, ...result.report.stages, encode: seconds(start) } };
  const reportPath = join(args.outDir, 'report.json');
  writeFileSync(reportPath, `${JSON.stringify({ ...report, input: { file: basename(args.inputPath), fps: video.fps, sourceFrameIndices: video.sourceFrameIndices, geometry: video.geometry } }, null, 2)}\n`);
  const data = args.keepData
    ? { input: video.frames, output: result.frames, width: video.width, height: video.height, latents: result.latents, latentMask: result.latentMask }
    : undefined;
  return { outputPath, previewPath, reportPath, report, data };
}
