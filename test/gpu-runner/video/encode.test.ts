import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeVideo, outputSpan } from '../../../gpu-runner/video/decode.ts';
import { encodeVideo } from '../../../gpu-runner/video/encode.ts';
import { ffprobeJson, makeTempDir, makeTestVideo, removeTempDir, type FfprobeJson } from '../../support/media.ts';

let dir: string;
const file = (name: string): string => join(dir, name);

/** Frames of a flat grey ramp: frame i has every byte 20 + 10 * i. */
function rampFrames(count: number, width: number, height: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(width * height * 3).fill(20 + 10 * i));
}

const streamOf = (probe: FfprobeJson, type: 'video' | 'audio') => probe.streams.find((s) => s.codec_type === type);

beforeAll(async () => {
  dir = await makeTempDir();
  // 1 s of video (8 frames at 8 fps) with 2 s of audio, so trimming is visible.
  await makeTestVideo(file('with-audio.mp4'), { audio: true, audioSeconds: 2 });
});

afterAll(async () => {
  await removeTempDir(dir);
});

describe('encodeVideo', () => {
  it('writes H.264 yuv420p MP4 with the moov atom first', async () => {
    const outPath = file('plain.mp4');
    const result = await encodeVideo(rampFrames(10, 64, 128), { width: 64, height: 128, fps: 12, outPath, preset: 'veryfast' });
    expect(result).toEqual({ outPath, frameCount: 10, durationSeconds: 10 / 12 });
    const probe = await ffprobeJson(outPath);
    const video = streamOf(probe, 'video');
    expect(video).toMatchObject({ codec_name: 'h264', pix_fmt: 'yuv420p', width: 64, height: 128, avg_frame_rate: '12/1', nb_frames: '10' });
    expect(streamOf(probe, 'audio')).toBeUndefined();
    const bytes = await readFile(outPath);
    expect(bytes.indexOf('moov')).toBeGreaterThan(0);
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
  });

  it('round-trips through decodeVideo keeping frame count, size, rate and pixels', async () => {
    const frames = rampFrames(10, 64, 128);
    await encodeVideo(frames, { width: 64, height: 128, fps: 12, outPath: file('roundtrip.mp4'), crf: 10 });
    const back = await decodeVideo(file('roundtrip.mp4'), { maxFrames: 100, selection: 'first', size: 64 });
    expect(back.frames).toHaveLength(10);
    expect([back.width, back.height]).toEqual([64, 128]);
    expect(back.fps).toBe(12);
    back.frames.forEach((frame, i) => {
      let diff = 0;
      for (let p = 0; p < frame.length; p++) diff += Math.abs(frame[p] - frames[i][p]);
      expect(diff / frame.length, `frame ${i}`).toBeLessThan(2);
    });
  });

  it('keeps saturated colours through a round trip and tags the colour matrix it used', async () => {
    // Four 64x64 frames: red, green, blue, and a mid orange.
    const colours = [[230, 20, 20], [20, 230, 20], [20, 20, 230], [200, 120, 40]];
    const frames = colours.map(([r, g, b]) => {
      const frame = new Uint8Array(64 * 64 * 3);
      for (let p = 0; p < 64 * 64; p++) frame.set([r, g, b], p * 3);
      return frame;
    });
    await encodeVideo(frames, { width: 64, height: 64, fps: 4, outPath: file('colours.mp4'), crf: 4 });
    const video = streamOf(await ffprobeJson(file('colours.mp4')), 'video');
    expect(video).toMatchObject({ color_space: 'smpte170m', color_range: 'tv' });
    const back = await decodeVideo(file('colours.mp4'), { maxFrames: 4, selection: 'first', size: 64 });
    back.frames.forEach((frame, i) => {
      const centre = (32 * 64 + 32) * 3;
      for (let c = 0; c < 3; c++) expect(Math.abs(frame[centre + c] - colours[i][c]), `frame ${i} channel ${c}`).toBeLessThanOrEqual(4);
    });
  });

  it('keeps an exact rational rate (30000/1001)', async () => {
    await encodeVideo(rampFrames(3, 64, 64), { width: 64, height: 64, fps: { num: 30000, den: 1001 }, outPath: file('ntsc.mp4') });
    expect(streamOf(await ffprobeJson(file('ntsc.mp4')), 'video')?.avg_frame_rate).toBe('30000/1001');
  });

  it('pads odd sizes to even ones for yuv420p', async () => {
    await encodeVideo(rampFrames(2, 65, 33), { width: 65, height: 33, fps: 8, outPath: file('odd.mp4') });
    expect(streamOf(await ffprobeJson(file('odd.mp4')), 'video')).toMatchObject({ width: 66, height: 34 });
  });

  it('copies the input audio trimmed to the output length', async () => {
    const input = await decodeVideo(file('with-audio.mp4'), { maxFrames: 4, selection: 'first', size: 64 });
    const span = outputSpan(input);
    expect(span).toEqual({ startSeconds: 0, durationSeconds: 0.5 });
    await encodeVideo(input.frames, { width: 64, height: 64, fps: input.fpsRational, outPath: file('trimmed.mp4'), audioFrom: { path: file('with-audio.mp4'), ...span } });
    const probe = await ffprobeJson(file('trimmed.mp4'));
    const audio = streamOf(probe, 'audio');
    expect(audio?.codec_name).toBe('aac');
    expect(Number(streamOf(probe, 'video')?.duration)).toBeCloseTo(0.5, 2);
    // AAC works in 1024-sample packets (21 ms at 48 kHz), so allow a little over.
    expect(Math.abs(Number(audio?.duration) - 0.5)).toBeLessThan(0.05);
    expect(Number(probe.format.duration)).toBeLessThan(0.56);
  });

  it('takes the audio from the middle of the source for a later span', async () => {
    await encodeVideo(rampFrames(4, 64, 64), {
      width: 64,
      height: 64,
      fps: 4,
      outPath: file('later.mp4'),
      audioFrom: { path: file('with-audio.mp4'), startSeconds: 1.5, durationSeconds: 1 },
    });
    // Only 0.5 s of audio is left after 1.5 s: the audio ends early, the video keeps its length.
    const probe = await ffprobeJson(file('later.mp4'));
    expect(Math.abs(Number(streamOf(probe, 'audio')?.duration) - 0.5)).toBeLessThan(0.05);
    expect(Number(streamOf(probe, 'video')?.duration)).toBeCloseTo(1, 2);
  });

  it('writes no audio track when the audio source has none', async () => {
    await encodeVideo(rampFrames(4, 64, 64), { width: 64, height: 64, fps: 8, outPath: file('silent-src.mp4') });
    await encodeVideo(rampFrames(4, 64, 64), {
      width: 64,
      height: 64,
      fps: 8,
      outPath: file('silent.mp4'),
      audioFrom: { path: file('silent-src.mp4'), startSeconds: 0, durationSeconds: 0.5 },
    });
    expect(streamOf(await ffprobeJson(file('silent.mp4')), 'audio')).toBeUndefined();
  });

  it('fails with tool_failed, without hanging, when ffmpeg cannot write the output', async () => {
    const frames = rampFrames(30, 256, 256);
    await expect(encodeVideo(frames, { width: 256, height: 256, fps: 8, outPath: file('no-such-dir/out.mp4') })).rejects.toMatchObject({
      name: 'VideoToolError',
      code: 'tool_failed',
    });
  });

  it.each([
    ['no frames', [], {}, /at least one frame/],
    ['a frame of the wrong size', [new Uint8Array(10)], {}, /Frame 0 has 10 bytes/],
    ['a bad crf', rampFrames(1, 64, 64), { crf: 60 }, /crf/],
    ['an unknown preset', rampFrames(1, 64, 64), { preset: 'quick' }, /preset must be one of/],
    ['a zero rate', rampFrames(1, 64, 64), { fps: 0 }, /fps must be positive/],
  ])('fails on %s', async (_label, frames, extra, message) => {
    await expect(encodeVideo(frames, { width: 64, height: 64, fps: 8, outPath: file('bad.mp4'), ...extra })).rejects.toThrow(message);
  });
});
