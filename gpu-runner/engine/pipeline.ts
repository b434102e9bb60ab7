/**
 * The engine's hub: `runEdit` runs one edit on frames with the options' editor. Each editor is its own module over
 * the shared stage modules (samplers, token merging in tome/, object-centric sampling in ocs.ts, counters and
 * frames in stages/):
 *
 *   fatezero/run.ts       inversion + attention fusion (presets fatezero, optimized, ocd)
 *   controlvideo/run.ts   ControlNet-guided generation from noise (presets controlvideo, -optimized, -ocd)
 */
import { cannyControlFrames } from '../control/control-image.ts';
import { CONTROLVIDEO_DEFAULTS } from './controlvideo/defaults.ts';
import { runControlVideo } from './controlvideo/run.ts';
import { type FateZeroArgs, runFateZero } from './fatezero/run.ts';
import type { FrameSet, RunEditResult } from './stages/run-types.ts';

export type { EditProgress, FrameSet, RunEditResult } from './stages/run-types.ts';

/** One edit's inputs: FateZero's, plus ControlVideo's control maps. */
export interface RunEditArgs extends FateZeroArgs {
  /**
   * ControlVideo: RGB24 control maps, one per frame at the working size. @default - canny edges of the input with
   * the options' thresholds
   */
  readonly control?: FrameSet;
}

/**
 * Runs one edit on frames with `options.editor`.
 * @throws EngineError('canceled') when the signal fires between steps; EngineError('invalid_request') on bad inputs;
 *   EngineError('controlnet_missing') for ControlVideo on a model without a ControlNet.
 */
export async function runEdit(args: RunEditArgs): Promise<RunEditResult> {
  if (args.options.editor !== 'controlvideo') return runFateZero(args);
  const { input, options } = args;
  const thresholds = options.control?.type === 'canny' ? options.control : CONTROLVIDEO_DEFAULTS.canny;
  const control = args.control ?? { frames: cannyControlFrames(input.frames, input.width, input.height, thresholds), width: input.width, height: input.height };
  return runControlVideo({ input, control, mask: args.mask, options, model: args.model, onProgress: args.onProgress, signal: args.signal });
}
