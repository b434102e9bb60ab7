/**
 * The ControlNet's control maps for a run: RGB24 maps of the clip's frames -> [F, 3, H, W] in [0, 1] at the size the
 * ControlNet expects (latent size x its conditioning scale factor; the working size for SD1.5, whose VAE and
 * ControlNet both scale by 8), and the pieces the samplers need (frame subsets, the foreground crop).
 */
import { controlImageTensor } from '../../control/control-image.ts';
import type { Tensor } from '../model.ts';
import type { Box } from '../ocs.ts';

/**
 * Control maps as the ControlNet's `controlnet_cond`, resized (nearest) when the ControlNet's size differs from
 * the frames' (small test models whose VAE scales by less than 8).
 * @throws RangeError when a map has the wrong length.
 */
export function controlTensor(maps: readonly Uint8Array[], width: number, height: number, outWidth: number, outHeight: number): Tensor {
  const F = maps.length;
  const full = controlImageTensor(maps, width, height); // [F, 3, height, width]
  if (outWidth === width && outHeight === height) return { data: full, dims: [F, 3, height, width] };
  const out = new Float32Array(F * 3 * outHeight * outWidth);
  for (let p = 0; p < F * 3; p++) {
    for (let y = 0; y < outHeight; y++) {
      const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight));
      for (let x = 0; x < outWidth; x++) {
        const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
        out[(p * outHeight + y) * outWidth + x] = full[(p * height + sy) * width + sx];
      }
    }
  }
  return { data: out, dims: [F, 3, outHeight, outWidth] };
}

/** The given frames of a [F, ...] tensor, in the given order. */
export function pickFrames(t: Tensor, frames: readonly number[]): Tensor {
  const per = t.data.length / t.dims[0];
  const out = new Float32Array(frames.length * per);
  frames.forEach((f, i) => out.set(t.data.subarray(f * per, (f + 1) * per), i * per));
  return { data: out, dims: [frames.length, ...t.dims.slice(1)] };
}

/** Writes the frames of `part` [n, ...] into `into` [F, ...] at the given frame indices. */
export function putFrames(into: Float32Array, part: Float32Array, frames: readonly number[]): void {
  const per = part.length / frames.length;
  frames.forEach((f, i) => into.set(part.subarray(i * per, (i + 1) * per), f * per));
}

/** Crops control maps [F, 3, H, W] to a latent box scaled by `scale` pixels per latent pixel. */
export function cropControl(t: Tensor, box: Box, scale: number): Tensor {
  const [F, C, H, W] = t.dims;
  const top = box.top * scale, left = box.left * scale, height = box.height * scale, width = box.width * scale;
  const out = new Float32Array(F * C * height * width);
  for (let p = 0; p < F * C; p++) {
    for (let y = 0; y < height; y++) {
      const from = (p * H + top + y) * W + left;
      out.set(t.data.subarray(from, from + width), (p * height + y) * width);
    }
  }
  return { data: out, dims: [F, C, height, width] };
}
