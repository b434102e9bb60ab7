import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannyControlFrames, controlImageTensor } from '../../../gpu-runner/control/control-image.ts';
import { decodeControlVideo } from '../../../gpu-runner/control/control-video.ts';
import { decodeVideo, type DecodedVideo } from '../../../gpu-runner/video/decode.ts';
import { frameIndexOf, makeTempDir, makeTestVideo, removeTempDir } from '../../support/media.ts';
import { expectInputError } from '../video/support.ts';

describe('decodeControlVideo', () => {
  let dir: string;
  let clip: DecodedVideo;
  const file = (name: string): string => join(dir, name);

  beforeAll(async () => {
    dir = await makeTempDir('ocd-control-');
    await Promise.all([
      makeTestVideo(file('clip.mp4'), { frames: 8, width: 128, height: 64 }),
      // Same aspect at twice the size; the index pattern makes control frame i a known grey.
      makeTestVideo(file('depth.mp4'), { frames: 8, width: 256, height: 128 }),
      makeTestVideo(file('depth.webm'), { codec: 'vp9', frames: 8, width: 128, height: 64, pattern: 'halves' }),
      makeTestVideo(file('short.mp4'), { frames: 6, width: 128, height: 64 }),
      makeTestVideo(file('long.mp4'), { frames: 10, width: 128, height: 64 }),
      makeTestVideo(file('square.mp4'), { frames: 8, width: 64, height: 64 }),
    ]);
    clip = await decodeVideo(file('clip.mp4'), { maxFrames: 4, selection: 'spread', size: 64 });
  });

  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('takes the clip\'s selected frames at its working size', async () => {
    expect(clip.sourceFrameIndices).toEqual([0, 2, 4, 6]);
    const control = await decodeControlVideo(file('depth.mp4'), clip);
    expect([control.width, control.height]).toEqual([clip.width, clip.height]);
    expect(control.controlFrameIndices).toEqual([0, 2, 4, 6]);
    expect(control.frames.map((frame) => frame.length)).toEqual(Array(4).fill(clip.width * clip.height * 3));
    expect(control.frames.map(frameIndexOf)).toEqual([0, 2, 4, 6]);
  });

  it('keeps the geometry: a left-half map stays on the left', async () => {
    const control = await decodeControlVideo(file('depth.webm'), clip);
    const first = control.frames[0];
    expect(first[(10 * clip.width + 10) * 3]).toBeGreaterThan(240);
    expect(first[(10 * clip.width + clip.width - 10) * 3]).toBeLessThan(15);
  });

  it.each(['short.mp4', 'long.mp4'])('rejects a control video with another frame count (%s) as control_frame_count', async (name) => {
    const error = await expectInputError(decodeControlVideo(file(name), clip), 'control_frame_count');
    expect(error.message).toMatch(/has (6|10) frames but the video has 8/);
  });

  it('rejects a control video with another aspect ratio as control_size', async () => {
    await expectInputError(decodeControlVideo(file('square.mp4'), clip), 'control_size');
  });

  it('rejects empty, missing and non-video files as control_unreadable', async () => {
    await writeFile(file('empty.mp4'), new Uint8Array(0));
    await writeFile(file('text.mp4'), 'not a video\n');
    for (const name of ['empty.mp4', 'text.mp4', 'missing.mp4']) {
      await expectInputError(decodeControlVideo(file(name), clip), 'control_unreadable');
    }
  });
});

describe('control images', () => {
  it('are RGB in [0, 1], NCHW', () => {
    const frame = Uint8Array.of(255, 0, 51, 0, 255, 102); // 2x1 pixels
    expect(controlImageTensor([frame], 2, 1)).toEqual(Float32Array.of(1, 0, 0, 1, 0.2, 0.4));
    expect(() => controlImageTensor([frame], 3, 1)).toThrow(RangeError);
  });

  it('canny maps repeat the edge byte into the three channels', () => {
    const width = 8;
    const step = Uint8Array.from({ length: width * 4 * 3 }, (_, i) => ((Math.floor(i / 3) % width) < 4 ? 0 : 200));
    const [rgb] = cannyControlFrames([step], width, 4, { low: 10, high: 20 });
    for (let p = 0; p < width * 4; p++) expect(new Set(rgb.subarray(p * 3, p * 3 + 3)).size).toBe(1);
    expect(rgb.filter((v) => v === 255).length).toBe(4 * 3);
  });
});
