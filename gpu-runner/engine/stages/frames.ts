/**
 * Frames <-> latents, shared by both editors: the VAE's posterior mean times the scaling factor, and back to RGB24.
 */
import { framesToTensor, tensorToFrames } from '../../video/frames.ts';
import type { EditModel } from '../model.ts';

/** The latent grid of a clip at its working size. */
export interface LatentGeometry {
  frames: number;
  height: number;
  width: number;
  latentHeight: number;
  latentWidth: number;
  channels: number;
}

/** RGB24 frames -> z0 = VAE posterior mean x scaling factor, [F, C, h, w]. */
export async function encodeFrames(model: EditModel, frames: readonly Uint8Array[], geo: LatentGeometry): Promise<Float32Array> {
  const images = framesToTensor(frames, geo.width, geo.height);
  const mean = await model.encodeImages({ data: images, dims: [geo.frames, 3, geo.height, geo.width] });
  const scale = model.facts.scalingFactor;
  return Float32Array.from(mean.data, (v) => v * scale);
}

/** Latents [F, C, h, w] -> RGB24 frames (VAE decode of z / scaling factor, clamped). */
export async function decodeFrames(model: EditModel, latent: Float32Array, geo: LatentGeometry): Promise<Uint8Array[]> {
  const scale = model.facts.scalingFactor;
  const images = await model.decodeLatents({ data: Float32Array.from(latent, (v) => v / scale), dims: [geo.frames, geo.channels, geo.latentHeight, geo.latentWidth] });
  return tensorToFrames(images.data, geo.frames, geo.width, geo.height);
}
