/**
 * The TypeScript toy-world renderer against golden frames written by the trainer's Python twin
 * (`python3 trainer/toy_world.py --golden test/fixtures/toy-world`): same parameters from the same seed,
 * same caption, same bytes. If either renderer changes, this fails until both change alike.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderClip } from '../../../gpu-runner/toy-world/render.ts';
import { caption, clipParams } from '../../../gpu-runner/toy-world/world.ts';
import { REPO_ROOT } from '../../support/paths.ts';

const GOLDEN_DIR = join(REPO_ROOT, 'test/fixtures/toy-world');

interface GoldenEntry {
  seed: number;
  frames: number[];
  caption: string;
  params: Record<string, unknown>;
  file: string;
}

const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, 'index.json'), 'utf8')) as GoldenEntry[];

describe('toy world renderer parity with the trainer (golden frames)', () => {
  it('covers every pattern and shape', () => {
    const patterns = new Set(golden.map((g) => g.params.pattern));
    const shapes = new Set(golden.map((g) => g.params.shape));
    expect(patterns.size).toBe(5);
    expect(shapes.size).toBe(4);
  });

  for (const entry of golden) {
    it(`seed ${entry.seed}: parameters, caption, frames and masks match byte for byte`, () => {
      const params = clipParams(entry.seed);
      expect(JSON.parse(JSON.stringify(params))).toEqual(entry.params);
      expect(caption(params)).toBe(entry.caption);
      const clip = renderClip(params);
      const rgb = readFileSync(join(GOLDEN_DIR, `${entry.file}.rgb`));
      const mask = readFileSync(join(GOLDEN_DIR, `${entry.file}.mask`));
      const pixels = params.size * params.size;
      entry.frames.forEach((frame, i) => {
        const want = rgb.subarray(i * pixels * 3, (i + 1) * pixels * 3);
        const got = clip.frames[frame].rgb;
        let differing = 0;
        for (let p = 0; p < want.length; p++) if (want[p] !== got[p]) differing++;
        expect(differing, `frame ${frame}: differing RGB bytes`).toBe(0);
        expect(Buffer.from(clip.frames[frame].mask).equals(mask.subarray(i * pixels, (i + 1) * pixels))).toBe(true);
      });
    });
  }
});
