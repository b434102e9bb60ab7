/**
 * Quality measures of method.md §8 that need no reference weights: background fidelity, approximation error
 * against the fatezero output, temporal consistency.
 */

/**
 * Background fidelity: RMS difference between the edited and the source latents outside the mask
 * (mask [F, h, w] broadcast over channels; 0 = background). Lower is better. Null when nothing is background.
 */
export function backgroundError(edited: Float32Array, source: Float32Array, mask: Float32Array | null, frames: number, channels: number, hw: number): number | null {
  let sum = 0, n = 0;
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) for (let i = 0; i < hw; i++) {
    if (mask && mask[f * hw + i] > 0.5) continue;
    const d = edited[(f * channels + c) * hw + i] - source[(f * channels + c) * hw + i];
    sum += d * d;
    n++;
  }
  return n === 0 ? null : Math.sqrt(sum / n);
}

/** PSNR (dB) between two RGB24 frame sets of equal size; Infinity when identical. */
export function psnr(a: readonly Uint8Array[], b: readonly Uint8Array[]): number {
  let sum = 0, n = 0;
  a.forEach((frame, f) => {
    for (let i = 0; i < frame.length; i++) { const d = frame[i] - b[f][i]; sum += d * d; }
    n += frame.length;
  });
  const mse = sum / n;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** Temporal consistency: mean over consecutive frame pairs of 1 - mean|a - b| / 255 (1 = identical frames). */
export function temporalConsistency(frames: readonly Uint8Array[]): number | null {
  if (frames.length < 2) return null;
  let total = 0;
  for (let f = 1; f < frames.length; f++) {
    let s = 0;
    for (let i = 0; i < frames[f].length; i++) s += Math.abs(frames[f][i] - frames[f - 1][i]);
    total += 1 - s / frames[f].length / 255;
  }
  return total / (frames.length - 1);
}
