/**
 * Burns short upper-case captions into RGB24 frames with a built-in 5x7 pixel font, so the preview names its panels
 * on any machine (ffmpeg's drawtext needs a font file and a build with freetype). White text on a dark box.
 */

/** 5x7 glyphs, one string per row, '#' = ink. Only the letters the preview's captions use. */
const GLYPHS: Record<string, readonly string[]> = {
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  ':': ['.....', '..#..', '.....', '.....', '.....', '..#..', '.....'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  F: ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '##.##', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
};

/** Pixel scale for a frame width: about 1/32 of the width per 7-pixel line, at least 1. */
export function labelScale(width: number): number {
  return Math.max(1, Math.floor(width / 128));
}

/**
 * Draws `text` at the top-left corner of a copy of each frame, clipped to the frame.
 * @throws RangeError for a character without a glyph
 */
export function drawLabel(frames: readonly Uint8Array[], width: number, height: number, text: string): Uint8Array[] {
  const glyphs = [...text.toUpperCase()].map((c) => {
    const glyph = GLYPHS[c];
    if (!glyph) throw new RangeError(`No glyph for '${c}' in the preview's caption font.`);
    return glyph;
  });
  const s = labelScale(width);
  const pad = s;
  const boxWidth = Math.min(width, pad * 2 + glyphs.length * 6 * s - s);
  const boxHeight = Math.min(height, pad * 2 + 7 * s);
  return frames.map((frame) => {
    const out = Uint8Array.from(frame);
    const paint = (x: number, y: number, v: number) => {
      if (x < boxWidth && y < boxHeight) out.fill(v, (y * width + x) * 3, (y * width + x) * 3 + 3);
    };
    for (let y = 0; y < boxHeight; y++) for (let x = 0; x < boxWidth; x++) paint(x, y, 24);
    glyphs.forEach((glyph, g) => {
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (glyph[row][col] !== '#') continue;
          const x0 = pad + (g * 6 + col) * s, y0 = pad + row * s;
          for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) paint(x0 + dx, y0 + dy, 255);
        }
      }
    });
    return out;
  });
}

/** The mask panel's caption: what the panel shows, and why when it is all black or all white. */
export function maskCaption(masks: readonly Float32Array[] | null): string {
  if (masks === null) return 'NO MASK';
  let on = 0, total = 0;
  for (const m of masks) for (const v of m) { total++; if (v > 0.5) on++; }
  if (on === 0) return 'MASK: EMPTY';
  if (on === total) return 'MASK: WHOLE FRAME';
  return 'MASK';
}
