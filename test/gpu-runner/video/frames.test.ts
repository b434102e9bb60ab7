import { describe, expect, it } from 'vitest';

import { framesToTensor, tensorToFrames } from '../../../gpu-runner/video/frames.ts';

describe('framesToTensor', () => {
  it('packs interleaved RGB into planar [F, 3, H, W] scaled to [-1, 1]', () => {
    // One 2x1 frame: pixel 0 = (0, 255, 51), pixel 1 = (255, 0, 204).
    const tensor = framesToTensor([Uint8Array.of(0, 255, 51, 255, 0, 204)], 2, 1);
    expect(Array.from(tensor)).toEqual([-1, 1, 1, -1, 51 / 127.5 - 1, 204 / 127.5 - 1].map(Math.fround));
  });

  it('places frame f at offset f * 3 * H * W', () => {
    const tensor = framesToTensor([new Uint8Array(3).fill(0), new Uint8Array(3).fill(255)], 1, 1);
    expect(Array.from(tensor)).toEqual([-1, -1, -1, 1, 1, 1]);
  });

  it('fails on a frame of the wrong size, naming it', () => {
    expect(() => framesToTensor([new Uint8Array(12), new Uint8Array(11)], 2, 2)).toThrow(/Frame 1 has 11 bytes/);
  });
});

describe('tensorToFrames', () => {
  it('round-trips every byte value', () => {
    const frame = Uint8Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
    const back = tensorToFrames(framesToTensor([frame], 256, 1), 1, 256, 1);
    expect(back[0]).toEqual(frame);
  });

  it('clamps out-of-range and NaN values and rounds', () => {
    // Planar 1x1 frame: R = 2 (-> 255), G = -3 (-> 0), B = NaN (-> 0).
    expect(Array.from(tensorToFrames(Float32Array.of(2, -3, Number.NaN), 1, 1, 1)[0])).toEqual([255, 0, 0]);
    // 0.2 in [-1, 1] -> 0.6 -> 153; 0.5 in [0, 1] -> 127.5 -> 128.
    expect(tensorToFrames(Float32Array.of(0.2, 0.2, 0.2), 1, 1, 1)[0][0]).toBe(153);
    expect(tensorToFrames(Float32Array.of(0.5, 0.5, 0.5), 1, 1, 1, { range: 'unit' })[0][0]).toBe(128);
  });

  it('fails when the tensor length does not match the shape', () => {
    expect(() => tensorToFrames(new Float32Array(11), 1, 2, 2)).toThrow(/needs 12/);
  });
});
