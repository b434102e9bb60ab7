/**
 * Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598): the UNet ran on the batch [uncond, cond], so
 * `noisePred` holds the unconditional half first; returns ε_u + g·(ε_c − ε_u), half the input's length, in float32
 * as diffusers computes it.
 * @param noisePred UNet output for the batch [uncond × B, cond × B], flattened (length 2·B·C·H·W).
 * @param guidanceScale g; 1 returns the conditional half, FateZero uses 7.5.
 * @throws when the length is odd.
 * @example classifierFreeGuidance(unetOut, 7.5)
 */
export function classifierFreeGuidance(noisePred: Float32Array, guidanceScale: number): Float32Array {
  if (noisePred.length % 2 !== 0) {
    throw new Error(`classifierFreeGuidance needs the batch [uncond, cond] (an even length), got ${noisePred.length} values.`);
  }
  const f32 = Math.fround;
  const half = noisePred.length / 2;
  const scale = f32(guidanceScale);
  const guided = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = noisePred[i];
    guided[i] = f32(uncond + f32(scale * f32(noisePred[half + i] - uncond)));
  }
  return guided;
}
