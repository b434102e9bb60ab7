/**
 * Renders toy-world clips: RGB24 frames and per-frame object masks. The object is antialiased by counting
 * subpixels² sample points inside it; all arithmetic is integer (floor division), matching trainer/toy_world.py.
 */
import { COLOURS, PATTERNS, SHAPES, WORLD, type ClipParams } from './world.ts';

/** One rendered frame: RGB24 (row-major, `size`² x 3) and a 0/1 object mask (`size`²). */
export interface ToyFrame {
  readonly rgb: Uint8Array;
  readonly mask: Uint8Array;
}

/** A clip's frames with its size. */
export interface ToyClip {
  readonly size: number;
  readonly frames: readonly ToyFrame[];
}

const floorDiv = (a: number, b: number): number => Math.floor(a / b);

/** The background's second colour: its colour pulled towards mid grey. */
export function shadeOf(rgb: readonly number[]): number[] {
  return rgb.map((c) => floorDiv(c * 5 + 128 * 3, 8));
}

/** The pattern weight t in [0, 255] at pixel (x, y): 0 = the background colour, 255 = its shade. */
function patternWeight(params: ClipParams, x: number, y: number): number {
  const { size } = params;
  const half = floorDiv(floorDiv(WORLD.patternPeriod * size, 64), 2);
  const v = params.orientation === 0 ? y : x;
  switch (PATTERNS[params.pattern]) {
    case 'plain': return 0;
    case 'stripes': return (floorDiv(v, half) % 2) * 255;
    case 'checker': return ((floorDiv(x, half) + floorDiv(y, half)) % 2) * 255;
    case 'gradient': return floorDiv(v * 255, size - 1);
    default: {
      const g = WORLD.textureGrid;
      const gx = x * g;
      const gy = y * g;
      const i = floorDiv(gx, size);
      const fx = gx % size;
      const j = floorDiv(gy, size);
      const fy = gy % size;
      const at = (row: number, col: number): number => params.texture[row * (g + 1) + col];
      return floorDiv(at(j, i) * (size - fx) * (size - fy) + at(j, i + 1) * fx * (size - fy)
        + at(j + 1, i) * (size - fx) * fy + at(j + 1, i + 1) * fx * fy, size * size);
    }
  }
}

/** The background of a clip (it does not move), RGB24. */
export function renderBackground(params: ClipParams): Uint8Array {
  const { size } = params;
  const c = WORLD.colours[COLOURS[params.background]];
  const d = shadeOf(c);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const t = patternWeight(params, x, y);
      for (let k = 0; k < 3; k++) out[(y * size + x) * 3 + k] = c[k] + floorDiv((d[k] - c[k]) * t, 255);
    }
  }
  return out;
}

/** The object's centre in frame `frame` (straight-line motion). */
export function centreAt(params: ClipParams, frame: number): [number, number] {
  const n = Math.max(params.frames - 1, 1);
  return [
    params.start[0] + floorDiv((params.end[0] - params.start[0]) * frame, n),
    params.start[1] + floorDiv((params.end[1] - params.start[1]) * frame, n),
  ];
}

/** A point-inside test in sample units for the clip's shape at centre (cx, cy). */
function insideTest(params: ClipParams, cx: number, cy: number): (X: number, Y: number) => boolean {
  const spec = WORLD.shapes[SHAPES[params.shape]];
  const r = params.radius;
  if (spec.kind === 'circle') {
    const rr = floorDiv(r * (spec.scale ?? 1000), 1000);
    return (X, Y) => (X - cx) ** 2 + (Y - cy) ** 2 <= rr * rr;
  }
  const vs = (spec.vertices ?? []).map(([vx, vy]) => [cx + floorDiv(vx * r, 1000), cy + floorDiv(vy * r, 1000)]);
  return (X, Y) => {
    // even-odd crossings, integer form of "X left of the edge at height Y"
    let inside = false;
    for (let k = 0; k < vs.length; k++) {
      const [xa, ya] = vs[k];
      const [xb, yb] = vs[(k + 1) % vs.length];
      const den = yb - ya;
      if (den === 0 || (ya > Y) === (yb > Y)) continue;
      const lhs = (X - xa) * den;
      const rhs = (Y - ya) * (xb - xa);
      if (den > 0 ? lhs < rhs : lhs > rhs) inside = !inside;
    }
    return inside;
  };
}

/** Samples (of subpixels²) per pixel inside the object in frame `frame`. */
export function coverage(params: ClipParams, frame: number): Uint8Array {
  const { size } = params;
  const s = WORLD.subpixels;
  const unit = 2 * s;
  const [cx, cy] = centreAt(params, frame);
  const inside = insideTest(params, cx, cy);
  const out = new Uint8Array(size * size);
  // only pixels near the object can be covered (vertices reach at most 1.2 radii)
  const reach = floorDiv(params.radius * 12, 10) + unit;
  const x0 = Math.max(0, floorDiv(cx - reach, unit));
  const x1 = Math.min(size - 1, floorDiv(cx + reach, unit));
  const y0 = Math.max(0, floorDiv(cy - reach, unit));
  const y1 = Math.min(size - 1, floorDiv(cy + reach, unit));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let n = 0;
      for (let sy = 0; sy < s; sy++) {
        for (let sx = 0; sx < s; sx++) if (inside(x * unit + 2 * sx + 1, y * unit + 2 * sy + 1)) n++;
      }
      out[y * size + x] = n;
    }
  }
  return out;
}

/** Frame `frame` of a clip over a precomputed background. */
export function renderFrame(params: ClipParams, frame: number, background = renderBackground(params)): ToyFrame {
  const { size } = params;
  const s2 = WORLD.subpixels ** 2;
  const cov = coverage(params, frame);
  const obj = WORLD.colours[COLOURS[params.colour]];
  const rgb = new Uint8Array(background);
  const mask = new Uint8Array(size * size);
  for (let p = 0; p < size * size; p++) {
    const n = cov[p];
    if (n === 0) continue;
    for (let k = 0; k < 3; k++) rgb[p * 3 + k] = floorDiv(background[p * 3 + k] * (s2 - n) + obj[k] * n, s2);
    mask[p] = n * 2 >= s2 ? 1 : 0;
  }
  return { rgb, mask };
}

/** All frames of a clip. */
export function renderClip(params: ClipParams): ToyClip {
  const background = renderBackground(params);
  return { size: params.size, frames: Array.from({ length: params.frames }, (_, f) => renderFrame(params, f, background)) };
}
