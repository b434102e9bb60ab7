import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseRational, probeFrameTimes, probeVideo } from '../../../gpu-runner/video/probe.ts';
import { makeTempDir, makeTestVideo, removeTempDir } from '../../support/media.ts';
import { CLIPS_DIR } from '../../support/paths.ts';

let dir: string;
const file = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await makeTempDir();
  await Promise.all([
    makeTestVideo(file('h264-audio.mp4'), { audio: true, frames: 6, fps: 12 }),
    makeTestVideo(file('h265.mp4'), { codec: 'h265', width: 96, height: 64 }),
    makeTestVideo(file('vp9.webm'), { codec: 'vp9', frames: 10 }),
    makeTestVideo(file('prores.mov'), { codec: 'prores' }),
  ]);
  await Promise.all([
    makeTestVideo(file('rot270.mov'), { width: 96, height: 64, rotation: 270 }),
    makeTestVideo(file('rot180.mp4'), { width: 96, height: 64, rotation: 180 }),
    makeTestVideo(file('vfr.mp4'), { vfr: true, frames: 8 }),
    makeTestVideo(file('hlg.mp4'), { codec: 'h265', tenBit: true, hdrTransfer: 'arib-std-b67', frames: 2 }),
  ]);
});

afterAll(async () => {
  await removeTempDir(dir);
});

describe('probeVideo', () => {
  it('reads a shared clip', async () => {
    const probe = await probeVideo(join(CLIPS_DIR, 'blackswan.mp4'));
    expect(probe).toMatchObject({ codec: 'h264', width: 854, height: 480, fps: 8, fpsRational: { num: 8, den: 1 }, frameCount: 50, frameCountFromHeader: true, rotation: 0, hasAudio: false, pixFmt: 'yuv420p' });
    expect(probe.durationSeconds).toBeCloseTo(6.25, 6);
  });

  it.each([
    ['h264-audio.mp4', { codec: 'h264', width: 64, height: 64, fps: 12, frameCount: 6, hasAudio: true, frameCountFromHeader: true }],
    ['h265.mp4', { codec: 'hevc', width: 96, height: 64, fps: 8, frameCount: 8, hasAudio: false }],
    // WebM stores no frame count: it is counted from the packets.
    ['vp9.webm', { codec: 'vp9', width: 64, height: 64, fps: 8, frameCount: 10, frameCountFromHeader: false }],
    ['prores.mov', { codec: 'prores', width: 64, height: 64, fps: 8, frameCount: 8, pixFmt: 'yuv422p10le' }],
  ])('reads %s', async (name, expected) => {
    expect(await probeVideo(file(name))).toMatchObject(expected);
  });

  it('swaps the displayed size for a quarter-turn rotation and keeps it for a half turn', async () => {
    expect(await probeVideo(file('rot270.mov'))).toMatchObject({ rotation: 270, width: 64, height: 96, codedWidth: 96, codedHeight: 64 });
    expect(await probeVideo(file('rot180.mp4'))).toMatchObject({ rotation: 180, width: 96, height: 64 });
  });

  it('reports the average rate of a variable-frame-rate clip', async () => {
    // 4 frames at 8 fps and 4 at 16 fps: 8 frames over 0.75 s of frame starts.
    const probe = await probeVideo(file('vfr.mp4'));
    expect(probe.frameCount).toBe(8);
    expect(probe.fps).toBeGreaterThan(8);
    expect(probe.fps).toBeLessThan(16);
    // The clip's millisecond time base rounds 0.5625 and 0.6875 by up to half a millisecond.
    const times = await probeFrameTimes(file('vfr.mp4'));
    const expected = [0, 0.125, 0.25, 0.375, 0.5, 0.5625, 0.625, 0.6875];
    expect(times).toHaveLength(expected.length);
    times.forEach((time, i) => expect(Math.abs(time - expected[i]), `frame ${i}`).toBeLessThanOrEqual(0.0005 + 1e-9));
  });

  it('flags HDR (HLG) clips and leaves SDR ones unflagged', async () => {
    expect(await probeVideo(file('hlg.mp4'))).toMatchObject({ colorTransfer: 'arib-std-b67', isHdr: true, pixFmt: 'yuv420p10le' });
    expect(await probeVideo(join(CLIPS_DIR, 'car-turn.mp4'))).toMatchObject({ colorTransfer: 'bt709', isHdr: false });
  });

  it('maps a failure of a mask file to mask_unreadable', async () => {
    await expect(probeVideo(file('missing.mp4'), { role: 'mask' })).rejects.toMatchObject({ code: 'mask_unreadable' });
    await expect(probeVideo(file('missing.mp4'))).rejects.toMatchObject({ code: 'input_unreadable' });
  });
});

describe('parseRational', () => {
  it.each([
    ['30000/1001', { num: 30000, den: 1001 }],
    ['1:1', { num: 1, den: 1 }],
    ['0/0', { num: 0, den: 0 }],
    ['abc', undefined],
    [undefined, undefined],
  ])('parses %s', (text, expected) => {
    expect(parseRational(text)).toEqual(expected);
  });
});
