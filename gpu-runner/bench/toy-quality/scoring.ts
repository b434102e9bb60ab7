/**
 * Scoring rules of the toy-world quality benchmark. Every rule compares pictures with what the toy world knows
 * (the clip's parameters and its ground-truth edited clip); BENCHMARKS.md states them in words:
 *
 * - object colour: at least half of the pixels inside the ground-truth object masks (eroded by one pixel, so
 *   antialiased edges do not count) have the target as their nearest named colour of world.json (Euclidean RGB).
 * - object shape: pixels closer to the target object colour than to the ground-truth background are "object";
 *   the target shape, drawn at the clip's own centre and radius, must overlap them best of the four shapes
 *   (IoU summed over frames) and with a mean IoU of at least 0.5.
 * - background colour: at least half of the pixels outside the dilated object masks are nearest to the clip's
 *   pattern drawn in the target colour, among the same pattern drawn in each named colour.
 * - text-to-image (no positions known): "object" pixels are those whose nearest named colour is the prompted one
 *   (within 80 RGB units); colour is right when they cover >= 1.5% of the image, shape is right when the prompted
 *   shape, centred on their centroid at the best of a range of radii, overlaps them best (IoU) of the four shapes,
 *   with an IoU of at least 0.5.
 */
import { coverage, renderBackground, renderFrame, type ToyFrame } from '../../toy-world/render.ts';
import { COLOURS, SHAPES, WORLD, type ClipParams } from '../../toy-world/world.ts';

const PALETTE: readonly (readonly number[])[] = COLOURS.map((name) => WORLD.colours[name]);

function dist2(a: ArrayLike<number>, ai: number, b: readonly number[]): number {
  const d0 = a[ai] - b[0];
  const d1 = a[ai + 1] - b[1];
  const d2 = a[ai + 2] - b[2];
  return d0 * d0 + d1 * d1 + d2 * d2;
}

/** Index of the named colour nearest to an RGB triple. */
export function nearestColour(rgb: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < PALETTE.length; i++) if (dist2(rgb, 0, PALETTE[i]) < dist2(rgb, 0, PALETTE[best])) best = i;
  return best;
}

/** Binary mask morphology on a size x size grid (square structuring element of radius r). */
export function morph(mask: Uint8Array, size: number, r: number, op: 'dilate' | 'erode'): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let hit = op === 'erode' ? 1 : 0;
      for (let dy = -r; dy <= r && hit === (op === 'erode' ? 1 : 0); dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          const v = yy >= 0 && yy < size && xx >= 0 && xx < size ? mask[yy * size + xx] : 0;
          if (op === 'dilate' && v) { hit = 1; break; }
          if (op === 'erode' && !v) { hit = 0; break; }
        }
      }
      out[y * size + x] = hit;
    }
  }
  return out;
}

/** Share of the selected pixels whose nearest named colour is `colour`; null when none is selected. */
export function colourShare(frames: readonly Uint8Array[], selects: readonly Uint8Array[], colour: number): number | null {
  let hits = 0;
  let n = 0;
  frames.forEach((frame, f) => {
    for (let p = 0; p < selects[f].length; p++) {
      if (!selects[f][p]) continue;
      n++;
      if (nearestColour([frame[p * 3], frame[p * 3 + 1], frame[p * 3 + 2]]) === colour) hits++;
    }
  });
  return n === 0 ? null : hits / n;
}

/** The object colour rule: at least half of the eroded ground-truth object pixels are nearest `colour`. */
export function objectColourIs(frames: readonly Uint8Array[], truth: readonly ToyFrame[], size: number, colour: number): boolean {
  const share = colourShare(frames, truth.map((t) => morph(t.mask, size, 1, 'erode')), colour);
  return share !== null && share >= 0.5;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let p = 0; p < a.length; p++) {
    if (a[p] && b[p]) inter++;
    if (a[p] || b[p]) union++;
  }
  return union === 0 ? 0 : inter / union;
}

function shapeMask(params: ClipParams, frame: number): Uint8Array {
  const s2 = WORLD.subpixels ** 2;
  return coverage(params, frame).map((n) => (n * 2 >= s2 ? 1 : 0));
}

/** Mean IoU per shape (index into SHAPES) of the object pixels with that shape at the clip's centre and radius. */
export function shapeOverlaps(frames: readonly Uint8Array[], target: ClipParams): number[] {
  const background = renderBackground(target);
  const colour = PALETTE[target.colour];
  const scores = SHAPES.map(() => 0);
  frames.forEach((frame, f) => {
    const objectPixels = new Uint8Array(target.size * target.size);
    for (let p = 0; p < objectPixels.length; p++) {
      const bg = [background[p * 3], background[p * 3 + 1], background[p * 3 + 2]];
      objectPixels[p] = dist2(frame, p * 3, colour) < dist2(frame, p * 3, bg) ? 1 : 0;
    }
    SHAPES.forEach((_, s) => { scores[s] += iou(objectPixels, shapeMask({ ...target, shape: s }, f)) / frames.length; });
  });
  return scores;
}

/** The object shape rule: the target's shape overlaps best, with a mean IoU of at least 0.5. */
export function objectShapeIs(frames: readonly Uint8Array[], target: ClipParams): boolean {
  const overlaps = shapeOverlaps(frames, target);
  return overlaps[target.shape] === Math.max(...overlaps) && overlaps[target.shape] >= 0.5;
}

/** The background colour rule: at least half of the `outside` pixels are nearest the target-colour background. */
export function backgroundColourIs(frames: readonly Uint8Array[], target: ClipParams, outside: readonly Uint8Array[]): boolean {
  const candidates = COLOURS.map((_, c) => renderBackground({ ...target, background: c }));
  let hits = 0;
  let n = 0;
  frames.forEach((frame, f) => {
    for (let p = 0; p < outside[f].length; p++) {
      if (!outside[f][p]) continue;
      n++;
      let best = 0;
      for (let c = 1; c < candidates.length; c++) if (dist2(frame, p * 3, [...candidates[c].subarray(p * 3, p * 3 + 3)]) < dist2(frame, p * 3, [...candidates[best].subarray(p * 3, p * 3 + 3)])) best = c;
      if (best === target.background) hits++;
    }
  });
  return n > 0 && hits / n >= 0.5;
}

/** PSNR (dB) over the selected pixels of two frame sets; Infinity when identical, null when nothing is selected. */
export function maskedPsnr(a: readonly Uint8Array[], b: readonly Uint8Array[], selects: readonly Uint8Array[]): number | null {
  let sum = 0;
  let n = 0;
  a.forEach((frame, f) => {
    for (let p = 0; p < selects[f].length; p++) {
      if (!selects[f][p]) continue;
      for (let k = 0; k < 3; k++) { const d = frame[p * 3 + k] - b[f][p * 3 + k]; sum += d * d; }
      n += 3;
    }
  });
  if (n === 0) return null;
  return sum === 0 ? Infinity : 10 * Math.log10((255 * 255 * n) / sum);
}

/** Text-to-image result of one image: the colour and shape the rules read, and whether they match the prompt. */
export interface GeneratedScore {
  readonly colourOk: boolean;
  readonly shapeOk: boolean;
  readonly shape: number | null;
  readonly objectFraction: number;
}

const T2I_MAX_DISTANCE = 80;
const T2I_MIN_FRACTION = 0.015;

/** The text-to-image rules for one RGB24 image of `size`² pixels prompted with (colour, shape). */
export function scoreGenerated(rgb: Uint8Array, size: number, colour: number, shape: number): GeneratedScore {
  const objectPixels = new Uint8Array(size * size);
  let count = 0;
  let cx = 0;
  let cy = 0;
  for (let p = 0; p < size * size; p++) {
    const px = [rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]];
    if (nearestColour(px) === colour && dist2(px, 0, PALETTE[colour]) <= T2I_MAX_DISTANCE ** 2) {
      objectPixels[p] = 1;
      count++;
      cx += p % size;
      cy += Math.floor(p / size);
    }
  }
  const objectFraction = count / (size * size);
  const colourOk = objectFraction >= T2I_MIN_FRACTION;
  if (!colourOk) return { colourOk, shapeOk: false, shape: null, objectFraction };
  const unit = 2 * WORLD.subpixels;
  const centre: [number, number] = [Math.round(((cx / count) + 0.5) * unit), Math.round(((cy / count) + 0.5) * unit)];
  const [lo, hi] = WORLD.radiusPercent;
  const best = SHAPES.map((_, s) => {
    let top = 0;
    // radii from 0.6x the smallest to 1.4x the largest the world draws, in steps of a pixel
    for (let r = Math.floor((size * unit * lo * 0.6) / 100); r <= Math.ceil((size * unit * hi * 1.4) / 100); r += unit) {
      const params: ClipParams = {
        seed: 0, size, frames: 1, shape: s, colour, pattern: 0, background: 0, orientation: 0, radius: r,
        texture: [], start: centre, end: centre,
      };
      top = Math.max(top, iou(objectPixels, shapeMask(params, 0)));
    }
    return top;
  });
  const found = best.indexOf(Math.max(...best));
  return { colourOk, shapeOk: found === shape && best[found] >= 0.5, shape: found, objectFraction };
}

/** The ground truth of a clip, frame by frame. */
export function truthFrames(params: ClipParams): ToyFrame[] {
  const background = renderBackground(params);
  return Array.from({ length: params.frames }, (_, f) => renderFrame(params, f, background));
}
