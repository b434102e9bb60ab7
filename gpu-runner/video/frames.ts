/**
 * Conversions between decoded RGB24 frames and the engine's image tensors. The engine works on
 * [F, 3, H, W] float32 in [-1, 1] (method.md §3.1), the VAE's input and output range.
 */

/**
 * Packs RGB24 frames (row-major, interleaved) into one planar [F, 3, H, W] tensor scaled to [-1, 1].
 * @throws RangeError when a frame is not `height * width * 3` bytes.
 * @example const pixels = framesToTensor(video.frames, video.width, video.height); // length F*3*H*W
 */
export function framesToTensor(frames: readonly Uint8Array[], width: number, height: number): Float32Array {
  const plane = width * height;
  const tensor = new Float32Array(frames.length * 3 * plane);
  frames.forEach((frame, f) => {
    checkFrameLength(frame, width, height, f);
    const base = f * 3 * plane;
    for (let p = 0; p < plane; p++) {
      tensor[base + p] = frame[p * 3] / 127.5 - 1;
      tensor[base + plane + p] = frame[p * 3 + 1] / 127.5 - 1;
      tensor[base + 2 * plane + p] = frame[p * 3 + 2] / 127.5 - 1;
    }
  });
  return tensor;
}

export interface TensorToFramesOptions {
  /** 'signed': values in [-1, 1] (VAE output); 'unit': values already in [0, 1]. @default 'signed' */
  readonly range?: 'signed' | 'unit';
}

/**
 * Unpacks a planar [F, 3, H, W] tensor into RGB24 frames: maps to [0, 1], clamps, then rounds x * 255
 * (as diffusers' image post-processing does).
 * @throws RangeError when the tensor length is not F * 3 * H * W.
 * @example const frames = tensorToFrames(decoded, 8, 512, 512);
 */
export function tensorToFrames(
  tensor: Float32Array,
  frameCount: number,
  width: number,
  height: number,
  options: TensorToFramesOptions = {},
): Uint8Array[] {
  const plane = width * height;
  if (tensor.length !== frameCount * 3 * plane) {
    throw new RangeError(`The tensor has ${tensor.length} values; [${frameCount}, 3, ${height}, ${width}] needs ${frameCount * 3 * plane}.`);
  }
  const signed = (options.range ?? 'signed') === 'signed';
  const toByte = (value: number): number => {
    const unit = signed ? value / 2 + 0.5 : value;
    // NaN clamps to 0 rather than poisoning the frame.
    return Math.round((unit > 0 ? (unit < 1 ? unit : 1) : 0) * 255);
  };
  const frames: Uint8Array[] = [];
  for (let f = 0; f < frameCount; f++) {
    const frame = new Uint8Array(plane * 3);
    const base = f * 3 * plane;
    for (let p = 0; p < plane; p++) {
      frame[p * 3] = toByte(tensor[base + p]);
      frame[p * 3 + 1] = toByte(tensor[base + plane + p]);
      frame[p * 3 + 2] = toByte(tensor[base + 2 * plane + p]);
    }
    frames.push(frame);
  }
  return frames;
}

/** @throws RangeError naming the frame when its byte length does not match the size. */
export function checkFrameLength(frame: Uint8Array, width: number, height: number, index: number): void {
  if (frame.length !== width * height * 3) {
    throw new RangeError(`Frame ${index} has ${frame.length} bytes; a ${width}x${height} RGB24 frame has ${width * height * 3}.`);
  }
}
