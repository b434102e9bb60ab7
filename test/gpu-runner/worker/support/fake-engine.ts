/**
 * A fast stand-in for the editing engine, for worker tests where the engine is not the point. It decodes the
 * input with the real video layer (so bad inputs fail with the real codes), runs `steps` timed steps that report
 * progress and honour the abort signal between steps like the real engine, and writes a real small MP4, a
 * preview MP4 and a report. A control video is decoded with the real control-video layer (its codes too).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeControlVideo } from '../../../../gpu-runner/control/control-video.ts';
import { decodeVideo } from '../../../../gpu-runner/video/decode.ts';
import { encodeVideo } from '../../../../gpu-runner/video/encode.ts';
import type { EditEngine, EditVideoFileArgs } from '../../../../gpu-runner/worker/engine-port.ts';
import type { EditOptions } from '../../../../shared/edit-request.ts';

export interface FakeEngineOptions {
  /** Wall time of one step. @default 100 */
  stepMs?: number;
  /** Steps per edit; the job's sampler.steps when unset. */
  steps?: number;
  /** Working size of the fake (a multiple of 64). @default 64 */
  size?: number;
  /** Throw this error (once per call) instead of editing, e.g. to simulate a transient failure. */
  failWith?: () => Error | undefined;
  /** Called at every step boundary, for tests that watch the run. */
  onStep?: (step: number) => void;
}

/** A tag in every report, so a test can tell which run wrote an output. */
export interface FakeReport {
  engine: 'fake';
  frames: number;
  steps: number;
  stepsDone: number;
  preset: string;
  /** What ran, like the real engine's report: object-centric with a mask, or fallen back to optimized (see `whatRan`). */
  ranAs: string;
  note?: string;
  mask: { areaFraction: number; box: null; source: string; words: string[] } | null;
  /** The control the run used: 'video' when a control video was decoded. */
  control: 'canny' | 'video' | null;
  runToken: string;
}

/**
 * The fake's "what ran", shaped like the real engine's: object-centric sampling with a mask video or with
 * `ocd.mask: 'auto'` claims a quarter of the frame; with `ocd.mask: 'none'` it falls back to optimized.
 */
function whatRan(options: EditOptions, hasMaskVideo: boolean): Pick<FakeReport, 'ranAs' | 'note' | 'mask'> {
  if (!options.ocd.sampling) return { ranAs: options.preset, mask: null };
  if (options.ocd.mask === 'none') return { ranAs: 'optimized', note: "ocd.mask is 'none'; object-centric sampling is off and the edit ran as optimized", mask: null };
  const source = hasMaskVideo ? 'video' : 'prompt-difference';
  return { ranAs: options.preset, mask: { areaFraction: 0.25, box: null, source, words: hasMaskVideo ? [] : ['fake'] } };
}

export function createFakeEngine(options: FakeEngineOptions = {}): EditEngine {
  const stepMs = options.stepMs ?? 100;
  const size = options.size ?? 64;
  return {
    async loadEditModel() {
      return { dispose: () => {} };
    },
    async editVideoFile(args: EditVideoFileArgs) {
      const failure = options.failWith?.();
      if (failure) throw failure;
      const { signal, onProgress } = args;
      onProgress?.({ stage: 'decode', step: 0, steps: 1 });
      const video = await decodeVideo(args.inputPath, {
        maxFrames: args.options.frames.count,
        selection: args.options.frames.selection,
        size,
        square: true,
        minFrames: 2,
      });
      if (args.controlPath) await decodeControlVideo(args.controlPath, video);
      const steps = options.steps ?? args.options.sampler.steps;
      let stepsDone = 0;
      for (let step = 0; step < steps; step++) {
        if (signal?.aborted) throw Object.assign(new Error(`edit canceled before step ${step + 1}`), { code: 'canceled' });
        options.onStep?.(step);
        await new Promise((resolve) => setTimeout(resolve, stepMs));
        stepsDone = step + 1;
        onProgress?.({ stage: 'edit', step: stepsDone, steps });
      }
      if (signal?.aborted) throw Object.assign(new Error('edit canceled after the last step'), { code: 'canceled' });
      const edited = video.frames.map((frame) => frame.map((value) => 255 - value));
      const outputPath = join(args.outDir, 'output.mp4');
      const previewPath = join(args.outDir, 'preview.mp4');
      const reportPath = join(args.outDir, 'report.json');
      const encode = { width: video.width, height: video.height, fps: video.fps, preset: 'ultrafast' };
      await encodeVideo(edited, { ...encode, outPath: outputPath });
      const sideBySide = video.frames.map((frame, i) => besideEachOther(frame, edited[i], video.width, video.height));
      await encodeVideo(sideBySide, { ...encode, width: video.width * 2, outPath: previewPath });
      const report: FakeReport = {
        engine: 'fake',
        frames: video.frames.length,
        steps,
        stepsDone,
        preset: args.options.preset,
        ...whatRan(args.options, args.maskPath !== undefined),
        control: args.controlPath ? 'video' : (args.options.control?.type ?? null),
        runToken: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
      };
      await writeFile(reportPath, JSON.stringify(report));
      return { outputPath, previewPath, reportPath, report };
    },
  };
}

function besideEachOther(left: Uint8Array, right: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * 2 * height * 3);
  const row = width * 3;
  for (let y = 0; y < height; y++) {
    out.set(left.subarray(y * row, (y + 1) * row), y * row * 2);
    out.set(right.subarray(y * row, (y + 1) * row), y * row * 2 + row);
  }
  return out;
}
