import { describe, expect, it } from 'vitest';

import { geometryFilter, workingGeometry } from '../../../gpu-runner/video/geometry.ts';

describe('workingGeometry', () => {
  it.each([
    // source, size -> scaled, crop (hand-computed)
    [512, 512, 512, 512, 512, { x: 0, y: 0, width: 512, height: 512 }],
    // 854 * 512 / 480 = 910.9 -> 911; floor to 64 -> 896; (911 - 896) / 2 -> 7.
    [854, 480, 512, 911, 512, { x: 7, y: 0, width: 896, height: 512 }],
    // Portrait 1080x1920 to 256: 1920 * 256 / 1080 = 455.1 -> 455 -> 448, y = 3.
    [1080, 1920, 256, 256, 455, { x: 0, y: 3, width: 256, height: 448 }],
    // 4K to 512: 3840 * 512 / 2160 = 910.2 -> 910 -> 896, x = 7.
    [3840, 2160, 512, 910, 512, { x: 7, y: 0, width: 896, height: 512 }],
    // Small odd input is upscaled: 67x45 to 64: 67 * 64 / 45 = 95.3 -> 95 -> 64, x = 15.
    [67, 45, 64, 95, 64, { x: 15, y: 0, width: 64, height: 64 }],
  ])('%ix%i at size %i scales to %ix%i and crops %j', (w, h, size, scaledWidth, scaledHeight, crop) => {
    const geometry = workingGeometry(w, h, { size });
    expect(geometry).toEqual({ sourceWidth: w, sourceHeight: h, scaledWidth, scaledHeight, crop });
    expect(geometry.crop.width % 64).toBe(0);
    expect(geometry.crop.height % 64).toBe(0);
  });

  it('crops to size x size with square', () => {
    expect(workingGeometry(854, 480, { size: 256, square: true }).crop).toEqual({ x: 99, y: 0, width: 256, height: 256 });
  });

  it.each([0, 100, -64, 64.5])('fails for size %d, which is not a positive multiple of 64', (size) => {
    expect(() => workingGeometry(640, 480, { size })).toThrow(/multiple of 64/);
  });

  it('fails for an empty source', () => {
    expect(() => workingGeometry(0, 480, { size: 64 })).toThrow(/must be positive/);
  });

  it('builds a filter that downscales with area averaging and upscales with bicubic', () => {
    expect(geometryFilter(workingGeometry(854, 480, { size: 256 }))).toBe('scale=455:256:flags=area,setsar=1,crop=448:256:3:0');
    expect(geometryFilter(workingGeometry(64, 64, { size: 128 }))).toBe('scale=128:128:flags=bicubic,setsar=1,crop=128:128:0:0');
  });
});
