/**
 * ControlVideo's hierarchical sampler for long clips (its `generate_long_video`): key frames every `window - 1`
 * frames (and the last frame) are sampled together with fully cross-frame attention; then each run of frames
 * strictly between two key frames is sampled attending to those two key frames only. A clip no longer than one
 * window is sampled in one pass (every frame a key frame), which is the plain sampler.
 */
import { CONTROLVIDEO_DEFAULTS, longVideoWindow } from './defaults.ts';

/** One run of in-between frames and the two key frames it attends to. */
export interface ClipRun {
  /** the key frames before and after the run */
  readonly keys: readonly [number, number];
  /** the frames strictly between them, ascending */
  readonly frames: readonly number[];
}

/** Which frames are sampled in which pass. */
export interface HierarchyPlan {
  /** frames sampled together in the first pass, ascending (every frame when the clip fits one window) */
  readonly keyFrames: readonly number[];
  /** the in-between runs of the second pass (empty when the clip fits one window) */
  readonly runs: readonly ClipRun[];
}

/**
 * The passes for a clip of `frames` frames and a window of `window` frames.
 * @throws RangeError when `frames` or `window` is not a positive integer.
 * @example hierarchyPlan(7, 3) // key frames 0, 2, 4, 6; runs [1] between 0 and 2, [3] between 2 and 4, [5] between 4 and 6
 */
export function hierarchyPlan(frames: number, window: number): HierarchyPlan {
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`frames must be a positive integer; got ${frames}`);
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a positive integer; got ${window}`);
  const all = Array.from({ length: frames }, (_, f) => f);
  // a window of 2 or less leaves no frame between key frames: everything is a key frame
  if (frames <= window || window <= 2) return { keyFrames: all, runs: [] };
  const keyFrames: number[] = [];
  for (let f = 0; f < frames; f += window - 1) keyFrames.push(f);
  if (keyFrames[keyFrames.length - 1] !== frames - 1) keyFrames.push(frames - 1);
  const runs: ClipRun[] = [];
  for (let i = 0; i + 1 < keyFrames.length; i++) {
    const [a, b] = [keyFrames[i], keyFrames[i + 1]];
    if (b - a > 1) runs.push({ keys: [a, b], frames: all.slice(a + 1, b) });
  }
  return { keyFrames, runs };
}

/**
 * The window the engine samples a clip with: clips up to `CONTROLVIDEO_DEFAULTS.onePassMaxFrames` frames in one
 * pass (ControlVideo's default run), longer ones with ControlVideo's long-video window floor(sqrt(frames)).
 */
export function samplingWindow(frames: number): number {
  return frames <= CONTROLVIDEO_DEFAULTS.onePassMaxFrames ? frames : longVideoWindow(frames);
}
