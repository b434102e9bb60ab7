import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeVideo, selectExpression } from '../../../gpu-runner/video/decode.ts';
import { frameIndexOf, makeTempDir, makeTestVideo, removeTempDir } from '../../support/media.ts';
import { CLIPS_DIR, readClipManifest, type ManifestClip } from '../../support/paths.ts';
import { expectInputError, regionMean } from './support.ts';

const execFileAsync = promisify(execFile);

const manifest = readClipManifest();

let dir: string;
const file = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await makeTempDir();
  await Promise.all([
    makeTestVideo(file('index20.mp4'), { frames: 20 }),
    makeTestVideo(file('h265.mp4'), { codec: 'h265' }),
    makeTestVideo(file('vp9.webm'), { codec: 'vp9' }),
    makeTestVideo(file('prores.mov'), { codec: 'prores' }),
    makeTestVideo(file('h264.mkv'), { codec: 'h264' }),
    makeTestVideo(file('h265-10bit.mp4'), { codec: 'h265', tenBit: true }),
  ]);
  await Promise.all([
    makeTestVideo(file('vfr.mp4'), { vfr: true, frames: 16 }),
    makeTestVideo(file('portrait.mp4'), { width: 128, height: 64, rotation: 90, pattern: 'halves' }),
    makeTestVideo(file('wide.mp4'), { width: 160, height: 64, pattern: 'halves' }),
    makeTestVideo(file('odd.webm'), { codec: 'vp9', width: 67, height: 45, frames: 2 }),
    makeTestVideo(file('one.mp4'), { frames: 1 }),
  ]);
});

afterAll(async () => {
  await removeTempDir(dir);
});

describe('decodeVideo on the shared clips', () => {
  it.each(manifest.map((clip) => [clip.id, clip] as const))('%s decodes to the manifest frame count, size and rate', async (_id, clip) => {
    const video = await decodeVideo(join(CLIPS_DIR, clip.file), { maxFrames: clip.frames, selection: 'first', size: 64 });
    expect(video.probe.width).toBe(clip.width);
    expect(video.probe.height).toBe(clip.height);
    expect(video.sourceFps).toBe(clip.fps);
    expect(video.sourceFrameCount).toBe(clip.frames);
    expect(video.frames).toHaveLength(clip.frames);
    expect(video.sourceFrameIndices).toEqual(Array.from({ length: clip.frames }, (_, i) => i));
    expect(video.fps).toBe(clip.fps);
  });

  it('keeps the pixels of a clip already at the working size (first frame matches its PNG)', async () => {
    const clip = manifest.find((c) => c.width === 512 && c.height === 512) as ManifestClip;
    const video = await decodeVideo(join(CLIPS_DIR, clip.file), { maxFrames: 1, selection: 'first', size: 512 });
    expect([video.width, video.height]).toEqual([512, 512]);
    const { stdout } = await execFileAsync('ffmpeg', ['-v', 'error', '-i', join(CLIPS_DIR, clip.first_frame), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
      encoding: 'buffer',
      maxBuffer: 4 * 1024 * 1024,
    });
    const png = new Uint8Array(stdout);
    expect(png.length).toBe(video.frames[0].length);
    let absDiff = 0;
    for (let i = 0; i < png.length; i++) absDiff += Math.abs(png[i] - video.frames[0][i]);
    // Frame 0 differs from the PNG by ~1.7 levels on average (rounding); frame 1 already by ~10.
    expect(absDiff / png.length).toBeLessThan(4);
  });

  it('spreads 8 frames over the 50-frame blackswan clip with stride 7 and crops 854x480 to 448x256', async () => {
    const video = await decodeVideo(join(CLIPS_DIR, 'blackswan.mp4'), { maxFrames: 8, selection: 'spread', size: 256 });
    expect(video.sourceFrameIndices).toEqual([0, 7, 14, 21, 28, 35, 42, 49]);
    expect(video.fpsRational).toEqual({ num: 8, den: 7 });
    // 854 * 256 / 480 = 455.5 -> 455 -> cropped to 448, 3 px off each side.
    expect([video.width, video.height]).toEqual([448, 256]);
    expect(video.geometry.crop).toEqual({ x: 3, y: 0, width: 448, height: 256 });
    expect(video.frames.every((f) => f.length === 448 * 256 * 3)).toBe(true);
  });
});

describe('decodeVideo formats', () => {
  it.each([
    ['H.265 MP4', 'h265.mp4'],
    ['VP9 WebM', 'vp9.webm'],
    ['ProRes MOV', 'prores.mov'],
    ['H.264 MKV', 'h264.mkv'],
    ['10-bit H.265 MP4', 'h265-10bit.mp4'],
  ])('decodes %s frame-exactly', async (_label, name) => {
    const video = await decodeVideo(file(name), { maxFrames: 8, selection: 'first', size: 64 });
    expect(video.frames).toHaveLength(8);
    expect(video.frames.map(frameIndexOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(video.fps).toBe(8);
    expect([video.width, video.height]).toEqual([64, 64]);
  });

  it('selects frames by timestamp in a variable-frame-rate clip', async () => {
    // 8 frames at 8 fps (0 .. 0.875 s), then 8 at 16 fps (1.0 .. 1.4375 s); container average 16000/1687 fps.
    const video = await decodeVideo(file('vfr.mp4'), { maxFrames: 4, selection: 'spread', size: 64 });
    expect(video.sourceFps).toBeCloseTo(16000 / 1687, 9);
    // Grid stride 4 periods = 0.4218 s: 0 -> frame 0, 0.42 -> frame 3 (0.375 s), 0.84 -> 6 (0.75 s), 1.27 -> 12 (1.25 s).
    expect(video.sourceFrameIndices).toEqual([0, 3, 6, 12]);
    expect(video.sourceTimes.map((t) => Number(t.toFixed(4)))).toEqual([0, 0.375, 0.75, 1.25]);
    // The pixels really come from those frames.
    expect(video.frames.map(frameIndexOf)).toEqual([0, 3, 6, 12]);
  });

  it('applies rotation metadata: a 128x64 clip rotated 90 degrees decodes as 64x128 portrait', async () => {
    const video = await decodeVideo(file('portrait.mp4'), { maxFrames: 2, selection: 'first', size: 64 });
    expect(video.probe.rotation).toBe(90);
    expect([video.probe.width, video.probe.height]).toEqual([64, 128]);
    expect([video.width, video.height]).toEqual([64, 128]);
    // The coded left (white) half becomes the top or bottom half; left and right now look alike.
    const frame = video.frames[0];
    const top = regionMean(frame, 64, 0, 0, 64, 60);
    const bottom = regionMean(frame, 64, 0, 68, 64, 128);
    expect(Math.abs(top - bottom)).toBeGreaterThan(200);
    expect(Math.abs(regionMean(frame, 64, 0, 0, 28, 128) - regionMean(frame, 64, 36, 0, 64, 128))).toBeLessThan(10);
  });

  it('center-crops a wide clip symmetrically', async () => {
    // 160x64 with the left half (80 px) white; size 64 keeps the scale and crops 128 wide at x = 16.
    const video = await decodeVideo(file('wide.mp4'), { maxFrames: 1, selection: 'first', size: 64 });
    expect([video.width, video.height]).toEqual([128, 64]);
    const frame = video.frames[0];
    expect(regionMean(frame, 128, 0, 0, 60, 64)).toBeGreaterThan(240);
    expect(regionMean(frame, 128, 68, 0, 128, 64)).toBeLessThan(15);
  });

  it('crops to a square on request', async () => {
    const video = await decodeVideo(file('wide.mp4'), { maxFrames: 1, selection: 'first', size: 64, square: true });
    expect([video.width, video.height]).toEqual([64, 64]);
    expect(video.geometry.crop).toEqual({ x: 48, y: 0, width: 64, height: 64 });
  });

  it('handles odd source sizes (67x45 VP9 upscaled and cropped to 64x64)', async () => {
    const video = await decodeVideo(file('odd.webm'), { maxFrames: 2, selection: 'first', size: 64 });
    expect([video.probe.width, video.probe.height]).toEqual([67, 45]);
    expect([video.width, video.height]).toEqual([64, 64]);
    expect(video.frames.map(frameIndexOf)).toEqual([0, 1]);
  });

  it('scales 4K input inside ffmpeg and returns only working-size frames', async () => {
    await makeTestVideo(file('uhd.mp4'), { width: 3840, height: 2160, frames: 2, pattern: 'halves' });
    const video = await decodeVideo(file('uhd.mp4'), { maxFrames: 2, selection: 'first', size: 256 });
    // 3840 * 256 / 2160 = 455.1 -> 455 -> 448 wide.
    expect([video.width, video.height]).toEqual([448, 256]);
    expect(video.frames).toHaveLength(2);
    for (const frame of video.frames) {
      expect(frame.length).toBe(448 * 256 * 3);
      // Both views into one buffer of 2 working-size frames: no 4K frame was ever held.
      expect(frame.buffer.byteLength).toBe(2 * 448 * 256 * 3);
    }
    expect(regionMean(video.frames[0], 448, 0, 0, 200, 256)).toBeGreaterThan(240);
    expect(regionMean(video.frames[0], 448, 248, 0, 448, 256)).toBeLessThan(15);
  });
});

describe('decodeVideo frame selection', () => {
  it("'first' returns the first N frames at the source rate", async () => {
    const video = await decodeVideo(file('index20.mp4'), { maxFrames: 5, selection: 'first', size: 64 });
    expect(video.frames.map(frameIndexOf)).toEqual([0, 1, 2, 3, 4]);
    expect(video.sourceTimes).toEqual([0, 0.125, 0.25, 0.375, 0.5]);
    expect(video.fps).toBe(8);
  });

  it("'spread' returns frames evenly spaced over the clip at a proportionally lower rate", async () => {
    const video = await decodeVideo(file('index20.mp4'), { maxFrames: 5, selection: 'spread', size: 64 });
    expect(video.sourceFrameIndices).toEqual([0, 4, 8, 12, 16]);
    expect(video.frames.map(frameIndexOf)).toEqual([0, 4, 8, 12, 16]);
    expect(video.fps).toBe(2);
    expect(video.fpsRational).toEqual({ num: 8, den: 4 });
  });

  it('writes select expressions as runs', () => {
    expect(selectExpression([0, 1, 2, 3])).toBe('between(n\\,0\\,3)');
    expect(selectExpression([0, 4, 5, 9])).toBe('eq(n\\,0)+between(n\\,4\\,5)+eq(n\\,9)');
  });
});

describe('decodeVideo rejects bad input with a stable code', () => {
  it('zero bytes -> input_empty', async () => {
    await writeFile(file('empty.mp4'), new Uint8Array(0));
    await expectInputError(decodeVideo(file('empty.mp4'), { maxFrames: 8, size: 64 }), 'input_empty');
  });

  it('a text file named .mp4 -> input_unreadable', async () => {
    await writeFile(file('text.mp4'), 'this is not a video\n'.repeat(50));
    await expectInputError(decodeVideo(file('text.mp4'), { maxFrames: 8, size: 64 }), 'input_unreadable');
  });

  it('a missing file -> input_unreadable', async () => {
    await expectInputError(decodeVideo(file('missing.mp4'), { maxFrames: 8, size: 64 }), 'input_unreadable');
  });

  it('an audio-only file -> input_unreadable', async () => {
    await execFileAsync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', file('audio.m4a')]);
    const error = await expectInputError(decodeVideo(file('audio.m4a'), { maxFrames: 8, size: 64 }), 'input_unreadable');
    expect(error.message).toMatch(/no video stream/);
  });

  it.each([
    // moov index up front: the header promises 20 frames that are not all there.
    ['with the index up front', ['-movflags', '+faststart'], ['input_truncated'] as const],
    // moov index at the end: cutting the tail loses the index.
    ['with the index at the end', [], ['input_unreadable', 'input_truncated'] as const],
  ])('an MP4 cut to 3/5 of its bytes (%s) is rejected', async (_label, flags, codes) => {
    const whole = file(`whole${flags.length}.mp4`);
    await execFileAsync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=8:d=2.5', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', ...flags, whole]);
    const bytes = await readFile(whole);
    const cut = file(`cut${flags.length}.mp4`);
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expectInputError(decodeVideo(cut, { maxFrames: 20, selection: 'first', size: 64 }), ...codes);
  });

  it.each(['noise.mp4', 'noise.webm', 'noise.mov'])('random bytes named %s -> input_unreadable', async (name) => {
    let seed = 12345;
    const bytes = Uint8Array.from({ length: 20_000 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 23);
    await writeFile(file(name), bytes);
    await expectInputError(decodeVideo(file(name), { maxFrames: 8, size: 64 }), 'input_unreadable');
  });

  it('an MP4 with its frame data overwritten still ends in frames or an input error, never a crash or hang', async () => {
    const bytes = Buffer.from(await readFile(file('index20.mp4')));
    const mdat = bytes.indexOf('mdat');
    expect(mdat).toBeGreaterThan(0);
    let seed = 99;
    for (let i = mdat + 200; i < bytes.length - 200; i += 7) bytes[i] = (seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 23;
    await writeFile(file('scrambled.mp4'), bytes);
    const outcome = await decodeVideo(file('scrambled.mp4'), { maxFrames: 20, selection: 'first', size: 64, timeoutMs: 20_000 }).then(
      (video) => video.frames.length,
      (error: unknown) => error,
    );
    if (typeof outcome === 'number') expect(outcome).toBe(20);
    else expect(outcome).toMatchObject({ name: 'VideoInputError', code: expect.stringMatching(/^input_(unreadable|truncated)$/) });
  });

  it('a 1-frame video when at least 2 are needed -> input_too_short', async () => {
    await expectInputError(decodeVideo(file('one.mp4'), { maxFrames: 8, minFrames: 2, size: 64 }), 'input_too_short');
    // The same file is fine when one frame is enough.
    expect((await decodeVideo(file('one.mp4'), { maxFrames: 8, size: 64 })).frames).toHaveLength(1);
  });

  it('a clip longer than maxDurationSeconds -> input_too_long', async () => {
    const error = await expectInputError(decodeVideo(file('index20.mp4'), { maxFrames: 8, size: 64, maxDurationSeconds: 2 }), 'input_too_long');
    expect(error.message).toMatch(/2\.50 s; the limit is 2 s/);
  });

  it('too many pixels or bytes -> input_too_large', async () => {
    await expectInputError(decodeVideo(file('index20.mp4'), { maxFrames: 8, size: 64, maxSourcePixels: 64 * 63 }), 'input_too_large');
    await expectInputError(decodeVideo(file('index20.mp4'), { maxFrames: 8, size: 64, maxInputBytes: 100 }), 'input_too_large');
  });

  it.each([
    [{ maxFrames: 8, size: 100 }, /size must be a positive multiple of 64, got 100/],
    [{ maxFrames: 0, size: 64 }, /maxFrames must be a whole number >= 1, got 0/],
    [{ maxFrames: 4, minFrames: 5, size: 64 }, /minFrames must be a whole number in 1..maxFrames \(4\), got 5/],
    [{ maxFrames: 4, size: 64, selection: 'middle' }, /selection must be 'first' or 'spread'/],
  ])('fails on invalid options %j before starting ffmpeg', async (options, message) => {
    // A path that does not exist: the options check must come first.
    await expect(decodeVideo(file('never-read.mp4'), options as never)).rejects.toThrow(message);
  });
});
