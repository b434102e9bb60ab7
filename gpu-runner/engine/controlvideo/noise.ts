/**
 * ControlVideo's initial latents: one Gaussian noise frame, repeated for every frame of the clip (its pipeline
 * draws noise of shape [1, C, h, w] and expands it over the frames), so frames differ only through the control
 * maps and the cross-frame attention.
 */

/** mulberry32: a small seeded uniform stream in [0, 1). */
function uniformStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seeded N(0, 1) noise of `frameShape` [C, h, w], the same for each of `frames` frames: [frames, C, h, w].
 * Same seed, same bytes.
 * @throws RangeError when the seed is not an integer in [0, 2^32) or a size is not a positive integer.
 * @example sameNoiseForEveryFrame(0, 15, [4, 64, 64])
 */
export function sameNoiseForEveryFrame(seed: number, frames: number, frameShape: readonly [number, number, number]): Float32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`noise seed must be an integer in [0, 2^32); got ${seed}`);
  if (![frames, ...frameShape].every((n) => Number.isInteger(n) && n > 0)) {
    throw new RangeError(`noise shape must be positive integers; got ${frames} frames of [${frameShape.join(', ')}]`);
  }
  const size = frameShape[0] * frameShape[1] * frameShape[2];
  const uniform = uniformStream(seed);
  const frame = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    // Box-Muller: two independent normals from two uniforms
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    frame[i] = radius * Math.cos(angle);
    if (i + 1 < size) frame[i + 1] = radius * Math.sin(angle);
  }
  const out = new Float32Array(frames * size);
  for (let f = 0; f < frames; f++) out.set(frame, f * size);
  return out;
}
