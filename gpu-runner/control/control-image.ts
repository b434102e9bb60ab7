/**
 * The ControlNet's `controlnet_cond` from control maps: RGB in [0, 1], NCHW (diffusers' ControlNet pipelines feed
 * [0, 1], not [-1, 1]). Canny edges, a single channel, are repeated into the three channels, as ControlVideo's
 * preprocessor does (its HWC3).
 */
import { cannyFrames, type CannyThresholds } from './canny.ts';

/**
 * RGB24 frames [F][H·W·3] -> float32 [F, 3, H, W] in [0, 1].
 * @throws RangeError when a frame has the wrong length.
 */
export function controlImageTensor(frames: readonly Uint8Array[], width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(frames.length * 3 * plane);
  frames.forEach((frame, f) => {
    if (frame.length !== plane * 3) throw new RangeError(`control frame ${f} has ${frame.length} bytes; ${width}x${height} RGB needs ${plane * 3}.`);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[(f * 3 + c) * plane + p] = frame[p * 3 + c] / 255;
    }
  });
  return out;
}

/**
 * Canny edge maps of RGB24 frames as RGB24 frames (the edge byte in all three channels), ready for
 * `controlImageTensor`.
 */
export function cannyControlFrames(frames: readonly Uint8Array[], width: number, height: number, thresholds: CannyThresholds): Uint8Array[] {
  const stacked = new Uint8Array(frames.length * width * height * 3);
  frames.forEach((frame, f) => stacked.set(frame, f * width * height * 3));
  const edges = cannyFrames(stacked, [frames.length, height, width, 3], thresholds);
  return frames.map((_, f) => {
    const rgb = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) rgb.fill(edges[f * width * height + p], p * 3, p * 3 + 3);
    return rgb;
  });
}
