/**
 * Measures of an object-centric mask against a ground-truth object mask (the toy world renders one per frame):
 * used by the auto-mask test and scripts/auto-mask-quality.ts [ours].
 */
import { poolMask, threshold } from './ocs.ts';

/** Ground-truth 0/1 object masks [F][H*W] at latent resolution [F, h, w]: a latent pixel is object when half its pixels are. */
export function objectMaskAtLatent(masks: readonly Uint8Array[], height: number, width: number, latentHeight: number, latentWidth: number): Float32Array {
  const values = new Float32Array(masks.length * height * width);
  masks.forEach((m, f) => values.set(m, f * height * width));
  return threshold(poolMask(values, masks.length, height, width, latentHeight, latentWidth), 0.499);
}

/** How two 0/1 masks of one shape agree: IoU, the share of `truth` inside `mask` (recall), and each one's area. */
export function maskAgreement(mask: Float32Array, truth: Float32Array): { iou: number; recall: number; precision: number; area: number } {
  let both = 0, either = 0, inMask = 0, inTruth = 0;
  for (let i = 0; i < mask.length; i++) {
    const m = mask[i] > 0.5, t = truth[i] > 0.5;
    if (m && t) both++;
    if (m || t) either++;
    if (m) inMask++;
    if (t) inTruth++;
  }
  return { iou: either ? both / either : 0, recall: inTruth ? both / inTruth : 0, precision: inMask ? both / inMask : 0, area: inMask / mask.length };
}
