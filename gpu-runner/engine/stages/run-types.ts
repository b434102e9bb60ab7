/**
 * What both editors take and return: frames at the working size, progress, and the run's result.
 */
import type { EditReport } from '../report.ts';

/** RGB24 frames of one clip, already at the working size. */
export interface FrameSet {
  readonly frames: readonly Uint8Array[];
  readonly width: number;
  readonly height: number;
}

/** Progress of the run: stage name and model step within it. */
export interface EditProgress {
  stage: string;
  step: number;
  steps: number;
}

export interface RunEditResult {
  readonly frames: Uint8Array[];
  readonly report: EditReport;
  /**
   * Latents for quality measures, [F, C, h, w]: FateZero's source z0, the inverted latent editing starts from and
   * the edited z0; ControlVideo's `inverted` is its initial noise and `source` is empty (nothing is encoded).
   */
  readonly latents: { source: Float32Array; inverted: Float32Array; edited: Float32Array; dims: number[] };
  /** the dilated saliency mask at latent resolution [F, h, w], when one was used */
  readonly latentMask?: Float32Array;
}
