import { CONTROLVIDEO_NEGATIVE_PROMPT } from '../../../shared/edit-request.ts';

/**
 * ControlVideo's inference defaults (YBYBZhang/ControlVideo, inference.py): DDIM with 50 steps, guidance 12.5,
 * 15 frames at 512x512, seed 42, its positive suffix appended to the prompt and its negative prompt (spelling
 * kept as upstream writes it: the strings are part of what the text encoder sees). Canny thresholds are those of
 * the controlnet_aux CannyDetector it calls. Long clips use a window of floor(sqrt(frames)) frames.
 */
export const CONTROLVIDEO_DEFAULTS = Object.freeze({
  sampler: 'ddim' as const,
  steps: 50,
  guidance: 12.5,
  frames: 15,
  size: 512,
  seed: 42,
  conditioningScale: 1,
  canny: Object.freeze({ low: 100, high: 200 }),
  /**
   * Longest clip sampled in one pass of fully cross-frame attention (ControlVideo's own 15-frame runs fit); longer
   * clips use the hierarchical sampler with `longVideoWindow` [ours: upstream asks for it with a flag].
   */
  onePassMaxFrames: 16,
  /**
   * Query rows per attention chunk in ControlVideo's graphs (exact attention; runControlVideo can name another): fully
   * cross-frame attention over 15 frames at 512 px has 61,440 keys, so a chunk's scores stay [256, 61,440] per head
   * instead of the 61,440² matrix.
   */
  attentionQueryChunk: 256,
  positiveSuffix: ' ,best quality, extremely detailed, HD, ultra-realistic, 8K, HQ, masterpiece, trending on artstation, art, smooth',
  negativePrompt: CONTROLVIDEO_NEGATIVE_PROMPT,
});

/** ControlVideo's hierarchical-sampler window for a clip of `frames` frames (its inference.py: int(sqrt(n))). */
export function longVideoWindow(frames: number): number {
  return Math.floor(Math.sqrt(frames));
}
