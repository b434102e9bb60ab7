/**
 * The toy world's specification (`world.json`, shared with the trainer's Python renderer) and its clips: which
 * object, colour, background and motion a seed draws, captions, held-out rules and edits. Integer arithmetic only,
 * so this module and `trainer/toy_world.py` agree bit for bit (checked on golden frames by the parity test).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ShapeSpec {
  readonly kind: 'circle' | 'polygon';
  readonly scale?: number;
  readonly vertices?: ReadonlyArray<readonly [number, number]>;
}

export interface WorldSpec {
  readonly version: number;
  readonly size: number;
  readonly frames: number;
  readonly subpixels: number;
  readonly colours: Readonly<Record<string, readonly [number, number, number]>>;
  readonly shapes: Readonly<Record<string, ShapeSpec>>;
  readonly patterns: Readonly<Record<string, string>>;
  readonly patternPeriod: number;
  readonly textureGrid: number;
  readonly radiusPercent: readonly [number, number];
  readonly marginPercent: number;
  readonly minTravelPercent: number;
  readonly captionTemplates: readonly string[];
  readonly heldOut: { readonly seedsFrom: number; readonly comboModulus: number };
}

export const WORLD_JSON = join(dirname(fileURLToPath(import.meta.url)), 'world.json');
export const WORLD: WorldSpec = JSON.parse(readFileSync(WORLD_JSON, 'utf8')) as WorldSpec;
export const COLOURS: readonly string[] = Object.keys(WORLD.colours);
export const SHAPES: readonly string[] = Object.keys(WORLD.shapes);
export const PATTERNS: readonly string[] = Object.keys(WORLD.patterns);

/** mulberry32 in uint32 arithmetic (the trainer's `Mulberry32` gives the same sequence). */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    const a = this.state;
    let t = Math.imul(a ^ (a >>> 15), 1 | a) >>> 0;
    t = (((t + (Math.imul(t ^ (t >>> 7), 61 | t) >>> 0)) >>> 0) ^ t) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  }

  int(n: number): number {
    return this.next() % n;
  }
}

/** One clip: attribute indices (into COLOURS/SHAPES/PATTERNS) and motion in 1/(2·subpixels) pixel units. */
export interface ClipParams {
  readonly seed: number;
  readonly size: number;
  readonly frames: number;
  readonly shape: number;
  readonly colour: number;
  readonly pattern: number;
  readonly background: number;
  readonly orientation: number;
  readonly radius: number;
  readonly texture: readonly number[];
  readonly start: readonly [number, number];
  readonly end: readonly [number, number];
}

/** Whether a (shape, colour, pattern, background) combination is kept out of training (world.json heldOut). */
export function comboHeldOut(shape: number, colour: number, pattern: number, background: number): boolean {
  return (shape + 3 * colour + 5 * pattern + 7 * background) % WORLD.heldOut.comboModulus === 0;
}

/** Whether the clip of `seed` was never used in training (seed or combination held out). */
export function isHeldOut(params: ClipParams): boolean {
  return params.seed >= WORLD.heldOut.seedsFrom || comboHeldOut(params.shape, params.colour, params.pattern, params.background);
}

/** The clip a seed draws (same draws, same order as the Python twin). */
export function clipParams(seed: number, size = WORLD.size, frames = WORLD.frames): ClipParams {
  const unit = 2 * WORLD.subpixels;
  const rng = new Mulberry32(seed);
  const shape = rng.int(SHAPES.length);
  const colour = rng.int(COLOURS.length);
  const pattern = rng.int(PATTERNS.length);
  const background = (colour + 1 + rng.int(COLOURS.length - 1)) % COLOURS.length;
  const orientation = rng.int(2);
  const [lo, hi] = WORLD.radiusPercent;
  const radius = Math.floor((size * unit * (lo + rng.int(hi - lo + 1))) / 100);
  const g = WORLD.textureGrid;
  const texture = Array.from({ length: (g + 1) * (g + 1) }, () => rng.int(256));
  const margin = Math.floor((size * unit * WORLD.marginPercent) / 100);
  const span = size * unit - 2 * (radius + margin);
  const travel = Math.floor((size * unit * WORLD.minTravelPercent) / 100);
  let xy: number[] = [];
  for (let attempt = 0; attempt < 64; attempt++) {
    xy = [0, 1, 2, 3].map(() => radius + margin + rng.int(span + 1));
    if (Math.abs(xy[2] - xy[0]) + Math.abs(xy[3] - xy[1]) >= travel) break;
  }
  return {
    seed, size, frames, shape, colour, pattern, background, orientation, radius, texture,
    start: [xy[0], xy[1]], end: [xy[2], xy[3]],
  };
}

/** The caption of a clip from template `template` of world.json. */
export function caption(params: Pick<ClipParams, 'shape' | 'colour' | 'pattern' | 'background'>, template = 0): string {
  return WORLD.captionTemplates[template]
    .replace('{colour}', COLOURS[params.colour])
    .replace('{shape}', SHAPES[params.shape])
    .replace('{pattern}', WORLD.patterns[PATTERNS[params.pattern]])
    .replace('{background}', COLOURS[params.background]);
}

/** An edit of a clip: which attribute changes, to what; the edited clip is its ground truth. */
export type EditKind = 'colour' | 'shape' | 'background';

export interface ClipEdit {
  readonly kind: EditKind;
  readonly source: ClipParams;
  readonly target: ClipParams;
  readonly sourcePrompt: string;
  readonly targetPrompt: string;
  /** the word that changes in the prompt, before and after */
  readonly fromWord: string;
  readonly toWord: string;
}

/** The same clip with one attribute set to `value` (an index into COLOURS or SHAPES). */
export function editClip(source: ClipParams, kind: EditKind, value: number): ClipEdit {
  const target: ClipParams = kind === 'colour' ? { ...source, colour: value }
    : kind === 'shape' ? { ...source, shape: value } : { ...source, background: value };
  const names = kind === 'shape' ? SHAPES : COLOURS;
  const before = kind === 'colour' ? source.colour : kind === 'shape' ? source.shape : source.background;
  return {
    kind, source, target, sourcePrompt: caption(source), targetPrompt: caption(target),
    fromWord: names[before], toWord: names[value],
  };
}
