/**
 * Canny edges exactly as OpenCV's `cv2.Canny(image, low, high)` computes them with its defaults (apertureSize 3,
 * L2gradient false), which is what ControlVideo's canny preprocessor calls (OpenCV's
 * modules/imgproc/src/canny.cpp):
 *   1. 3x3 Sobel x and y per channel, borders replicated (int16 arithmetic, no rounding anywhere);
 *   2. magnitude |dx| + |dy|; with several channels each pixel keeps the channel with the largest magnitude
 *      (the first on ties) and that channel's dx, dy;
 *   3. non-maximum suppression over 4 sectors decided in integer arithmetic: tan(22.5°) as 13573/2^15, and
 *      tan(67.5°) = tan(22.5°) + 2; zero magnitude outside the image; a pixel is kept when its magnitude
 *      exceeds `low` (after flooring) and beats its two neighbours across the edge (ties: see `isLocalMaximum`);
 *   4. hysteresis: kept pixels 8-connected to a kept pixel whose magnitude exceeds `high` become edges (255).
 */

/** tan(22.5°) in Q15, as OpenCV rounds it. */
const TG22_Q15 = Math.floor(0.4142135623730950488016887242097 * (1 << 15) + 0.5);

/** One image: row-major [height, width, channels] bytes. */
export interface CannyImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/** Thresholds on the L1 gradient magnitude (0..2040 for 8-bit input); swapped when low > high, as OpenCV does. */
export interface CannyThresholds {
  readonly low: number;
  readonly high: number;
}

/**
 * The edge map of one image: [height, width] bytes, 255 on edges and 0 elsewhere.
 * @throws RangeError when the data length does not match the size or a threshold is not a finite number.
 * @example canny({ data: rgb, width: 128, height: 96, channels: 3 }, { low: 100, high: 200 })
 */
export function canny(image: CannyImage, thresholds: CannyThresholds): Uint8Array {
  const { data, width, height, channels } = image;
  if (!(width >= 1 && height >= 1 && channels >= 1) || data.length !== width * height * channels) {
    throw new RangeError(`canny: ${data.length} bytes do not make a ${height}x${width}x${channels} image.`);
  }
  if (!Number.isFinite(thresholds.low) || !Number.isFinite(thresholds.high)) {
    throw new RangeError(`canny: thresholds must be finite numbers; got low ${thresholds.low}, high ${thresholds.high}.`);
  }
  const low = Math.floor(Math.min(thresholds.low, thresholds.high));
  const high = Math.floor(Math.max(thresholds.low, thresholds.high));
  const gradient = strongestGradient(image);
  const kept = suppressNonMaxima(gradient, width, height, low);
  return traceEdges(kept, gradient.magnitude, width, height, high);
}

/** Per pixel: the Sobel dx, dy and L1 magnitude of the channel with the largest magnitude. */
interface Gradient {
  readonly dx: Int32Array;
  readonly dy: Int32Array;
  readonly magnitude: Int32Array;
}

function strongestGradient(image: CannyImage): Gradient {
  const { data, width, height, channels } = image;
  const dx = new Int32Array(width * height);
  const dy = new Int32Array(width * height);
  const magnitude = new Int32Array(width * height).fill(-1);
  const at = (y: number, x: number, c: number): number => data[(y * width + x) * channels + c];
  for (let y = 0; y < height; y++) {
    // BORDER_REPLICATE: the row/column outside the image repeats the edge one
    const up = Math.max(y - 1, 0);
    const down = Math.min(y + 1, height - 1);
    for (let x = 0; x < width; x++) {
      const left = Math.max(x - 1, 0);
      const right = Math.min(x + 1, width - 1);
      const p = y * width + x;
      for (let c = 0; c < channels; c++) {
        // Sobel 3x3: smoothing [1 2 1] across, difference [-1 0 1] along
        const gx = (at(up, right, c) + 2 * at(y, right, c) + at(down, right, c)) - (at(up, left, c) + 2 * at(y, left, c) + at(down, left, c));
        const gy = (at(down, left, c) + 2 * at(down, x, c) + at(down, right, c)) - (at(up, left, c) + 2 * at(up, x, c) + at(up, right, c));
        const m = Math.abs(gx) + Math.abs(gy);
        if (m > magnitude[p]) {
          magnitude[p] = m;
          dx[p] = gx;
          dy[p] = gy;
        }
      }
    }
  }
  return { dx, dy, magnitude };
}

/**
 * Marks the pixels that survive non-maximum suppression (magnitude above `low` and a local maximum across the
 * edge). @returns 1 where kept, 0 elsewhere, [height, width]
 */
function suppressNonMaxima(gradient: Gradient, width: number, height: number, low: number): Uint8Array {
  const { dx, dy, magnitude } = gradient;
  const kept = new Uint8Array(width * height);
  // magnitude outside the image is 0
  const mag = (y: number, x: number): number => (y < 0 || y >= height || x < 0 || x >= width ? 0 : magnitude[y * width + x]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const m = magnitude[p];
      if (m > low && isLocalMaximum(m, dx[p], dy[p], (oy, ox) => mag(y + oy, x + ox))) kept[p] = 1;
    }
  }
  return kept;
}

/**
 * OpenCV's sector test. With ax = |dx| and ay = |dy|·2^15: ay < ax·tg22 is a horizontal gradient (compare with
 * the left and right neighbours), ay > ax·(tg22 + 2^16) a vertical one (above and below), anything else a
 * diagonal one, whose direction follows the signs of dx and dy. The neighbour before the pixel must be strictly
 * smaller; the one after only not larger, except on diagonals, where both must be strictly smaller.
 */
function isLocalMaximum(m: number, gx: number, gy: number, neighbour: (dy: number, dx: number) => number): boolean {
  const ax = Math.abs(gx);
  const ay = Math.abs(gy) * (1 << 15);
  const tg22x = ax * TG22_Q15;
  if (ay < tg22x) return m > neighbour(0, -1) && m >= neighbour(0, 1);
  const tg67x = tg22x + ax * (1 << 16);
  if (ay > tg67x) return m > neighbour(-1, 0) && m >= neighbour(1, 0);
  const s = (gx < 0) !== (gy < 0) ? -1 : 1;
  return m > neighbour(-1, -s) && m > neighbour(1, s);
}

/**
 * Hysteresis: flood fill from every kept pixel whose magnitude exceeds `high` through 8-connected kept pixels.
 * (OpenCV seeds its stack with only some of the strong pixels, skipping ones whose left or upper neighbour is
 * already a seed; those are reached from that neighbour, so the resulting set is the same.)
 */
function traceEdges(kept: Uint8Array, magnitude: Int32Array, width: number, height: number, high: number): Uint8Array {
  const edges = new Uint8Array(width * height);
  const stack: number[] = [];
  for (let p = 0; p < kept.length; p++) {
    if (kept[p] && magnitude[p] > high) {
      edges[p] = 255;
      stack.push(p);
    }
  }
  while (stack.length > 0) {
    const p = stack.pop()!;
    const y = Math.floor(p / width);
    const x = p - y * width;
    for (let oy = -1; oy <= 1; oy++) {
      const ny = y + oy;
      if (ny < 0 || ny >= height) continue;
      for (let ox = -1; ox <= 1; ox++) {
        const nx = x + ox;
        if (nx < 0 || nx >= width) continue;
        const q = ny * width + nx;
        if (kept[q] && !edges[q]) {
          edges[q] = 255;
          stack.push(q);
        }
      }
    }
  }
  return edges;
}

/**
 * `canny` over a batch of frames [N, height, width, channels] (e.g. a decoded clip's RGB24 frames).
 * @returns edges [N, height, width], 0 or 255
 * @throws RangeError when the data length does not match the shape.
 */
export function cannyFrames(frames: Uint8Array, shape: readonly [number, number, number, number], thresholds: CannyThresholds): Uint8Array {
  const [count, height, width, channels] = shape;
  const frameBytes = height * width * channels;
  if (frames.length !== count * frameBytes) {
    throw new RangeError(`canny: ${frames.length} bytes do not make ${count} frames of ${height}x${width}x${channels}.`);
  }
  const edges = new Uint8Array(count * height * width);
  for (let i = 0; i < count; i++) {
    const image = { data: frames.subarray(i * frameBytes, (i + 1) * frameBytes), width, height, channels };
    edges.set(canny(image, thresholds), i * height * width);
  }
  return edges;
}
