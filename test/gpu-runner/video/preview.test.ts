import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeVideo } from '../../../gpu-runner/video/decode.ts';
import { drawLabel, maskCaption } from '../../../gpu-runner/video/labels.ts';
import { composeSideBySide, renderMaskPanels, writePreview } from '../../../gpu-runner/video/preview.ts';
import { ffprobeJson, makeTempDir, removeTempDir } from '../../support/media.ts';
import { regionMean } from './support.ts';

const flat = (count: number, width: number, height: number, value: number): Uint8Array[] =>
  Array.from({ length: count }, () => new Uint8Array(width * height * 3).fill(value));

describe('composeSideBySide', () => {
  it('places panel i at columns i * W .. (i + 1) * W - 1 of every row', () => {
    // 1x2 panels (W = 1, H = 2) with distinct bytes per pixel.
    const a = [Uint8Array.of(1, 1, 1, 2, 2, 2)];
    const b = [Uint8Array.of(3, 3, 3, 4, 4, 4)];
    expect(Array.from(composeSideBySide([a, b], 1, 2)[0])).toEqual([1, 1, 1, 3, 3, 3, 2, 2, 2, 4, 4, 4]);
  });

  it('fails when panels have different frame counts', () => {
    expect(() => composeSideBySide([flat(2, 1, 1, 0), flat(1, 1, 1, 0)], 1, 1)).toThrow(/Panel 1 has 1 frames/);
  });
});

describe('renderMaskPanels', () => {
  const input = [Uint8Array.of(100, 100, 100, 100, 100, 100)];
  const mask = [Float32Array.of(0, 1)];

  it('shows the mask as grey', () => {
    expect(Array.from(renderMaskPanels(mask, input, 2, 1, 'grey')[0])).toEqual([0, 0, 0, 255, 255, 255]);
  });

  it('tints the input red where the mask is set', () => {
    // alpha 0.6: red 100 * 0.4 + 255 * 0.6 = 193, others 100 * 0.4 = 40.
    expect(Array.from(renderMaskPanels(mask, input, 2, 1, 'tint')[0])).toEqual([100, 100, 100, 193, 40, 40]);
  });

  it('shows black without a mask', () => {
    expect(Array.from(renderMaskPanels(null, input, 2, 1)[0])).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('panel captions', () => {
  it('draws white text on a dark box in the top-left corner and leaves the rest of the frame alone', () => {
    const [frame] = drawLabel([new Uint8Array(64 * 32 * 3).fill(128)], 64, 32, 'INPUT');
    const at = (x: number, y: number) => frame[(y * 64 + x) * 3];
    expect(at(0, 0)).toBe(24); // the box
    expect(at(3, 1)).toBe(255); // the I's top bar (scale 1, padding 1)
    expect(at(40, 20)).toBe(128); // untouched
    expect(() => drawLabel([frame], 64, 32, 'in?')).toThrow(/No glyph for '\?'/);
  });

  it('says why a mask panel is all black or all white', () => {
    expect(maskCaption(null)).toBe('NO MASK');
    expect(maskCaption([new Float32Array(4)])).toBe('MASK: EMPTY');
    expect(maskCaption([new Float32Array(4).fill(1)])).toBe('MASK: WHOLE FRAME');
    expect(maskCaption([Float32Array.of(0, 1, 1, 0)])).toBe('MASK');
  });
});

describe('writePreview', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir();
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('encodes input | mask | output three times as wide, below a caption per panel', async () => {
    const outPath = join(dir, 'preview.mp4');
    const masks = Array.from({ length: 6 }, () => new Float32Array(64 * 64).fill(1));
    await writePreview({ input: flat(6, 64, 64, 40), masks, output: flat(6, 64, 64, 160), width: 64, height: 64, fps: 6, outPath });
    const video = (await ffprobeJson(outPath)).streams[0];
    expect(video).toMatchObject({ codec_name: 'h264', width: 192, height: 64, nb_frames: '6', pix_fmt: 'yuv420p' });
    const back = await decodeVideo(outPath, { maxFrames: 6, selection: 'first', size: 64 });
    const frame = back.frames[0];
    expect(regionMean(frame, 192, 4, 12, 60, 60)).toBeCloseTo(40, -1);
    expect(regionMean(frame, 192, 68, 12, 124, 60)).toBeGreaterThan(245);
    expect(regionMean(frame, 192, 132, 12, 188, 60)).toBeCloseTo(160, -1);
  });
});
