import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeVideo, type DecodedVideo } from '../../../gpu-runner/video/decode.ts';
import { alignMaskFrames, decodeMask, gridToMask, maskToGrid } from '../../../gpu-runner/video/mask.ts';
import { makeTempDir, makeTestVideo, removeTempDir } from '../../support/media.ts';
import { expectInputError } from './support.ts';

const execFileAsync = promisify(execFile);

describe('maskToGrid', () => {
  it('averages whole blocks (4x4 -> 2x2)', () => {
    // prettier-ignore
    const mask = Float32Array.of(
      1, 1, 0, 0,
      1, 0, 0, 0,
      0, 0, 1, 1,
      0, 0, 1, 1,
    );
    expect(Array.from(maskToGrid(mask, 4, 4, 2, 2))).toEqual([0.75, 0, 0, 1]);
  });

  it('weights pixels shared by two cells by their overlap (3 -> 2)', () => {
    // Cell 0 covers pixel 0 fully and half of pixel 1: (1 * 1 + 0 * 0.5) / 1.5.
    const grid = maskToGrid(Float32Array.of(1, 0, 0), 3, 1, 2, 1);
    expect(grid[0]).toBeCloseTo(2 / 3, 6);
    expect(grid[1]).toBeCloseTo(0, 6);
  });

  it('keeps the mean for any ratio', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const mask = Float32Array.from({ length: 37 * 23 }, random);
    const mean = mask.reduce((a, b) => a + b, 0) / mask.length;
    const grid = maskToGrid(mask, 37, 23, 5, 7);
    expect(grid.reduce((a, b) => a + b, 0) / grid.length).toBeCloseTo(mean, 5);
  });

  it('downsamples 512x512 to the 64x64 latent grid by 8x8 blocks', () => {
    const mask = new Float32Array(512 * 512);
    for (let y = 0; y < 256; y++) mask.fill(1, y * 512, y * 512 + 256);
    const grid = maskToGrid(mask, 512, 512, 64, 64);
    expect(grid[0]).toBe(1);
    expect(grid[31 * 64 + 31]).toBe(1);
    expect(grid[31 * 64 + 32]).toBe(0);
    expect(grid[32 * 64]).toBe(0);
  });

  it.each([
    [new Float32Array(15), 4, 4, 2, 2, /needs 16/],
    [new Float32Array(16), 4, 4, 0, 2, /grid must be/],
    [new Float32Array(16), 4, 4, 8, 2, /grid must be/],
  ])('fails on bad shapes (%#)', (mask, w, h, gw, gh, message) => {
    expect(() => maskToGrid(mask, w, h, gw, gh)).toThrow(message);
  });
});

describe('gridToMask', () => {
  it('repeats each grid value over its block (2x2 -> 4x4)', () => {
    // prettier-ignore
    expect(Array.from(gridToMask(Float32Array.of(0.25, 1, 0, 0.5), 2, 2, 4, 4))).toEqual([
      0.25, 0.25, 1, 1,
      0.25, 0.25, 1, 1,
      0, 0, 0.5, 0.5,
      0, 0, 0.5, 0.5,
    ]);
  });

  it('inverts maskToGrid for block-constant masks', () => {
    const grid = Float32Array.from({ length: 8 * 8 }, (_, i) => (i % 5) / 4);
    expect(maskToGrid(gridToMask(grid, 8, 8, 64, 64), 64, 64, 8, 8)).toEqual(grid);
  });

  it('fails when the grid length does not match', () => {
    expect(() => gridToMask(new Float32Array(3), 2, 2, 4, 4)).toThrow(/needs 4/);
  });
});

describe('alignMaskFrames', () => {
  it('maps each clip time to the mask frame on screen then', () => {
    const maskTimes = [0, 0.1, 0.2, 0.3];
    expect(alignMaskFrames(maskTimes, [0, 0.1, 0.25, 0.3], 10)).toEqual([0, 1, 2, 3]);
  });

  it('applies a single-frame mask to every time', () => {
    expect(alignMaskFrames([0], [0, 1, 2], 25)).toEqual([0, 0, 0]);
  });

  it('fails with mask_mismatch when the mask ends before the clip', () => {
    expect(() => alignMaskFrames([0, 0.1], [0, 0.1, 0.2], 10)).toThrow(expect.objectContaining({ code: 'mask_mismatch' }));
  });
});

describe('decodeMask', () => {
  let dir: string;
  let clip: DecodedVideo;
  const file = (name: string): string => join(dir, name);

  beforeAll(async () => {
    dir = await makeTempDir();
    await Promise.all([
      makeTestVideo(file('clip.mp4'), { frames: 8, width: 128, height: 64 }),
      // Same aspect, twice the resolution; the index pattern makes mask frame i a known grey.
      makeTestVideo(file('grey-mask.mp4'), { frames: 8, width: 256, height: 128 }),
      makeTestVideo(file('halves-mask.webm'), { codec: 'vp9', frames: 8, width: 128, height: 64, pattern: 'halves' }),
      makeTestVideo(file('short-mask.mp4'), { frames: 4, width: 128, height: 64, pattern: 'white' }),
      makeTestVideo(file('square-mask.mp4'), { frames: 8, width: 64, height: 64, pattern: 'white' }),
    ]);
    await execFileAsync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=white:s=128x64', '-frames:v', '1', file('still.png')]);
    clip = await decodeVideo(file('clip.mp4'), { maxFrames: 4, selection: 'spread', size: 64 });
  });

  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('aligns a grey mask video to the selected frames and working size', async () => {
    expect(clip.sourceFrameIndices).toEqual([0, 2, 4, 6]);
    const mask = await decodeMask(file('grey-mask.mp4'), clip);
    expect([mask.width, mask.height]).toEqual([clip.width, clip.height]);
    expect(mask.maskFrameIndices).toEqual([0, 2, 4, 6]);
    mask.masks.forEach((values, i) => {
      expect(values.length).toBe(128 * 64);
      // Mask frame k has luma 16 + 8k, i.e. 8k / 219 in full range; neighbours differ by 0.037, the codec may
      // shift a flat frame by a level or two (0.01).
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      expect(Math.abs(mean - (8 * mask.maskFrameIndices[i]) / 219)).toBeLessThan(0.015);
    });
  });

  it('keeps the geometry: a left-half mask stays on the left and covers half the area', async () => {
    const mask = await decodeMask(file('halves-mask.webm'), clip);
    const first = mask.masks[0];
    expect(first[10 * 128 + 10]).toBeGreaterThan(0.95);
    expect(first[10 * 128 + 118]).toBeLessThan(0.05);
    expect(mask.areaFraction).toBeCloseTo(0.5, 1);
  });

  it('applies a still image to every frame', async () => {
    const mask = await decodeMask(file('still.png'), clip);
    expect(mask.masks).toHaveLength(4);
    expect(mask.maskFrameIndices).toEqual([0, 0, 0, 0]);
    expect(mask.areaFraction).toBeGreaterThan(0.99);
  });

  it('rejects a mask with another aspect ratio as mask_mismatch', async () => {
    await expectInputError(decodeMask(file('square-mask.mp4'), clip), 'mask_mismatch');
  });

  it('rejects a mask shorter than the selection as mask_mismatch', async () => {
    await expectInputError(decodeMask(file('short-mask.mp4'), clip), 'mask_mismatch');
  });

  it('rejects empty and non-video masks as mask_unreadable', async () => {
    await writeFile(file('empty-mask.mp4'), new Uint8Array(0));
    await writeFile(file('text-mask.mp4'), 'not a mask\n');
    await expectInputError(decodeMask(file('empty-mask.mp4'), clip), 'mask_unreadable');
    await expectInputError(decodeMask(file('text-mask.mp4'), clip), 'mask_unreadable');
  });
});
