/**
 * Mask videos (white = edit, grey allowed) aligned to a decoded clip: the same frame times, the same resize and
 * crop, returned as one float [H, W] map in [0, 1] per output frame. A one-frame mask (or a still image) applies
 * to every frame. `maskToGrid` brings a mask down to a latent grid by area averaging.
 */
import { decodeSelectedFrames, type DecodedVideo } from './decode.ts';
import { VideoInputError } from './errors.ts';
import type { WorkingGeometry } from './geometry.ts';
import { probeFrameTimes, probeVideo } from './probe.ts';
import type { VideoToolOptions } from './tools.ts';

/** How far the mask's aspect ratio may differ from the clip's before it is `mask_mismatch` (2%). */
const ASPECT_TOLERANCE = 0.02;

export interface DecodedMask {
  /** One [height, width] map per output frame, row-major, values in [0, 1]. */
  readonly masks: Float32Array[];
  readonly width: number;
  readonly height: number;
  /** Mask frame (presentation order) behind each output frame. */
  readonly maskFrameIndices: number[];
  /** Mean mask value over all frames and pixels (the report's mask area fraction). */
  readonly areaFraction: number;
}

/** The parts of a decoded clip a mask has to line up with. */
export type MaskTarget = Pick<DecodedVideo, 'sourceTimes' | 'geometry'>;

/**
 * Decodes the mask video at `path` for the frames and working size of `target`.
 * @throws VideoInputError `mask_unreadable` (empty, not a video, truncated, decode failure) or `mask_mismatch`
 *   (different aspect ratio, or shorter than the selected frames need).
 * @throws VideoToolError when ffmpeg/ffprobe is missing or runs past `timeoutMs`.
 * @example const { masks } = await decodeMask('mask.mp4', video);
 */
export async function decodeMask(path: string, target: MaskTarget, options: VideoToolOptions = {}): Promise<DecodedMask> {
  const { geometry, sourceTimes } = target;
  const probe = await probeVideo(path, { ...options, role: 'mask' });

  const clipAspect = geometry.sourceWidth / geometry.sourceHeight;
  const maskAspect = probe.width / probe.height;
  if (Math.abs(maskAspect / clipAspect - 1) > ASPECT_TOLERANCE) {
    throw new VideoInputError(
      'mask_mismatch',
      `The mask is ${probe.width}x${probe.height} but the video is ${geometry.sourceWidth}x${geometry.sourceHeight}; their aspect ratios differ. ` +
        'Export the mask at the video size.',
    );
  }

  const maskTimes = await probeFrameTimes(path, { ...options, role: 'mask' });
  if (maskTimes.length === 0 || (probe.frameCountFromHeader && maskTimes.length < probe.frameCount)) {
    throw new VideoInputError('mask_unreadable', `The mask video holds ${maskTimes.length} of the ${probe.frameCount} frames its header promises.`);
  }
  const maskFrameIndices = alignMaskFrames(maskTimes, sourceTimes, probe.fps);

  const maskGeometry: WorkingGeometry = { ...geometry, sourceWidth: probe.width, sourceHeight: probe.height };
  const uniqueIndices = [...new Set(maskFrameIndices)].sort((a, b) => a - b);
  const rgbFrames = await decodeSelectedFrames(path, uniqueIndices, maskGeometry, 'mask', options);
  const byIndex = new Map(uniqueIndices.map((index, i) => [index, rgbToLuma(rgbFrames[i])]));
  const masks = maskFrameIndices.map((index) => byIndex.get(index) as Float32Array);

  let sum = 0;
  for (const mask of masks) for (const value of mask) sum += value;
  const pixels = masks.length * geometry.crop.width * geometry.crop.height;
  return { masks, width: geometry.crop.width, height: geometry.crop.height, maskFrameIndices, areaFraction: pixels > 0 ? sum / pixels : 0 };
}

/**
 * For each clip time, the mask frame on screen at that time. A single-frame mask applies to every time.
 * @throws VideoInputError `mask_mismatch` when a clip time lies past the mask's end.
 */
export function alignMaskFrames(maskTimes: readonly number[], clipTimes: readonly number[], maskFps: number): number[] {
  if (maskTimes.length === 1) return clipTimes.map(() => 0);
  const period = 1 / maskFps;
  const epsilon = Math.min(1e-3, period * 0.01);
  const maskEnd = maskTimes[maskTimes.length - 1] + period;
  return clipTimes.map((time) => {
    if (time >= maskEnd - epsilon) {
      throw new VideoInputError(
        'mask_mismatch',
        `The mask video ends at ${maskEnd.toFixed(3)} s but a selected frame is at ${time.toFixed(3)} s. The mask needs as many frames as the video.`,
      );
    }
    let index = 0;
    while (index + 1 < maskTimes.length && maskTimes[index + 1] <= time + epsilon) index++;
    return index;
  });
}

/** BT.601 luma of an RGB24 frame, scaled to [0, 1]: white = 1 whatever the mask's colour channels. */
function rgbToLuma(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length / 3);
  for (let p = 0; p < out.length; p++) {
    out[p] = (0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2]) / 255;
  }
  return out;
}

/**
 * Area-averages a [height, width] mask down to [gridHeight, gridWidth] (for example the 64x64 latent grid of a
 * 512x512 frame). Cells that straddle pixel borders weight the shared pixels by overlap, so any ratio works.
 * @throws RangeError when the mask length does not match or the grid is empty or larger than the mask.
 * @example maskToGrid(mask, 512, 512, 64, 64) // Float32Array(4096), each value the mean of an 8x8 block
 */
export function maskToGrid(mask: Float32Array, width: number, height: number, gridWidth: number, gridHeight: number): Float32Array {
  if (mask.length !== width * height) throw new RangeError(`The mask has ${mask.length} values; ${width}x${height} needs ${width * height}.`);
  if (!(gridWidth >= 1 && gridHeight >= 1 && gridWidth <= width && gridHeight <= height) || !Number.isInteger(gridWidth) || !Number.isInteger(gridHeight)) {
    throw new RangeError(`The grid must be whole numbers between 1x1 and ${width}x${height}, got ${gridWidth}x${gridHeight}.`);
  }
  const columnWeights = overlapWeights(width, gridWidth);
  const rowWeights = overlapWeights(height, gridHeight);
  // Horizontal pass: [height, gridWidth].
  const rows = new Float32Array(height * gridWidth);
  for (let y = 0; y < height; y++) {
    for (let gx = 0; gx < gridWidth; gx++) {
      let sum = 0;
      for (const [x, weight] of columnWeights[gx]) sum += mask[y * width + x] * weight;
      rows[y * gridWidth + gx] = sum;
    }
  }
  // Vertical pass and normalization by the cell area.
  const cellArea = (width / gridWidth) * (height / gridHeight);
  const grid = new Float32Array(gridHeight * gridWidth);
  for (let gy = 0; gy < gridHeight; gy++) {
    for (let gx = 0; gx < gridWidth; gx++) {
      let sum = 0;
      for (const [y, weight] of rowWeights[gy]) sum += rows[y * gridWidth + gx] * weight;
      grid[gy * gridWidth + gx] = sum / cellArea;
    }
  }
  return grid;
}

/** For each of `cells` equal spans over `length` pixels: the pixels it touches and how much of each. */
function overlapWeights(length: number, cells: number): [number, number][][] {
  const span = length / cells;
  return Array.from({ length: cells }, (_, cell) => {
    const start = cell * span;
    const end = (cell + 1) * span;
    const weights: [number, number][] = [];
    for (let pixel = Math.floor(start); pixel < Math.min(length, Math.ceil(end)); pixel++) {
      const overlap = Math.min(pixel + 1, end) - Math.max(pixel, start);
      if (overlap > 1e-9) weights.push([pixel, overlap]);
    }
    return weights;
  });
}

/**
 * Enlarges a [gridHeight, gridWidth] map (for example an attention-derived mask on the latent grid) to
 * [height, width] by nearest neighbour, for the preview's mask panel.
 * @throws RangeError when the grid length does not match or a size is not positive.
 * @example gridToMask(grid, 64, 64, 512, 512) // each grid value covers an 8x8 block
 */
export function gridToMask(grid: Float32Array, gridWidth: number, gridHeight: number, width: number, height: number): Float32Array {
  if (grid.length !== gridWidth * gridHeight) throw new RangeError(`The grid has ${grid.length} values; ${gridWidth}x${gridHeight} needs ${gridWidth * gridHeight}.`);
  if (!(width >= 1 && height >= 1) || !Number.isInteger(width) || !Number.isInteger(height)) {
    throw new RangeError(`The mask size must be positive whole numbers, got ${width}x${height}.`);
  }
  const mask = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    // Pixel centres map to the cell that contains them.
    const gy = Math.min(gridHeight - 1, Math.floor(((y + 0.5) * gridHeight) / height));
    for (let x = 0; x < width; x++) {
      const gx = Math.min(gridWidth - 1, Math.floor(((x + 0.5) * gridWidth) / width));
      mask[y * width + x] = grid[gy * gridWidth + gx];
    }
  }
  return mask;
}
