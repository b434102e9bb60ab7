/**
 * Which source frames an edit uses. Frames are chosen on a uniform time grid, so variable-frame-rate clips come
 * out evenly timed: output frame i shows whatever the source shows at time i * stride / sourceFps.
 * - 'first': stride `samplingRate` (default 1), the first `maxFrames` grid points: consecutive frames from the
 *   start as FateZero's loader takes them (for a constant-rate clip: frames 0, r, 2r, ...).
 * - 'spread': the smallest whole stride that fits the clip into `maxFrames` (like FateZero's sampling_rate), so
 *   the output covers the whole clip at sourceFps / stride.
 */

export type FrameSelectionMode = 'first' | 'spread';

export interface FrameSelectionOptions {
  /** At most this many frames are chosen. */
  readonly maxFrames: number;
  readonly mode: FrameSelectionMode;
  /** The clip's average frame rate; the grid spacing is stride / sourceFps. */
  readonly sourceFps: number;
  /** Stride of 'first' in source frame periods (FateZero's sampling_rate). @default 1 */
  readonly samplingRate?: number;
}

export interface FrameSelection {
  /** Index (presentation order) of the source frame behind each output frame; repeats only on VFR input. */
  readonly indices: number[];
  /** Presentation time of each chosen source frame, seconds from the clip's first frame. */
  readonly times: number[];
  /** Source frame periods between consecutive output frames. */
  readonly stride: number;
  /** Output frame rate: sourceFps / stride. */
  readonly fps: number;
}

/**
 * Chooses output frames from the source frames' presentation times.
 * @param frameTimes ascending presentation times, seconds, the first being 0 (see `probeFrameTimes`).
 * @example selectFrames([0, 0.1, 0.2, 0.3], { maxFrames: 2, mode: 'spread', sourceFps: 10 }).indices // [0, 2]
 */
export function selectFrames(frameTimes: readonly number[], options: FrameSelectionOptions): FrameSelection {
  const { maxFrames, mode, sourceFps } = options;
  if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`maxFrames must be a whole number >= 1, got ${maxFrames}.`);
  if (!(sourceFps > 0)) throw new RangeError(`sourceFps must be positive, got ${sourceFps}.`);
  if (mode !== 'first' && mode !== 'spread') throw new RangeError(`mode must be 'first' or 'spread', got '${String(mode)}'.`);
  const samplingRate = options.samplingRate ?? 1;
  if (!Number.isInteger(samplingRate) || samplingRate < 1) throw new RangeError(`samplingRate must be a whole number >= 1, got ${samplingRate}.`);
  if (frameTimes.length === 0) return { indices: [], times: [], stride: 1, fps: sourceFps };

  const period = 1 / sourceFps;
  // The clip lasts until its last frame has been shown for one average period.
  const clipEnd = frameTimes[frameTimes.length - 1] + period;
  // Absorbs timestamp rounding (ffprobe prints microseconds; rates like 30000/1001 are not exact in binary).
  const epsilon = Math.min(1e-3, period * 0.01);
  const gridPoints = (stride: number): number => Math.max(1, Math.ceil(clipEnd / (stride * period) - epsilon / period));

  const stride = mode === 'first' ? samplingRate : Math.max(1, Math.ceil(gridPoints(1) / maxFrames));
  const count = Math.min(maxFrames, gridPoints(stride));
  const indices: number[] = [];
  let cursor = 0;
  for (let i = 0; i < count; i++) {
    const target = i * stride * period;
    // The frame on screen at `target` is the last one that started at or before it.
    while (cursor + 1 < frameTimes.length && frameTimes[cursor + 1] <= target + epsilon) cursor++;
    indices.push(cursor);
  }
  return { indices, times: indices.map((index) => frameTimes[index]), stride, fps: sourceFps / stride };
}
