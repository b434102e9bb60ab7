/**
 * The flags that choose the editor and ControlVideo's control: `--editor`, `--control canny|video`,
 * `--control-video <file>`, `--canny-low/--canny-high`, `--conditioning-scale`. Parsed into edit knobs
 * (shared/edit-request.ts) plus the control video's path, which the caller uploads (`ocd submit`) or decodes.
 */
import type { ParseArgsConfig } from 'node:util';
import type { EditRequest } from '../shared/edit-request.ts';

/** node:util parseArgs options for the editor and control flags. */
export const CONTROL_FLAG_OPTIONS = {
  editor: { type: 'string' },
  control: { type: 'string' },
  'control-video': { type: 'string' },
  'canny-low': { type: 'string' },
  'canny-high': { type: 'string' },
  'conditioning-scale': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const CONTROL_FLAGS_HELP = `  --editor fatezero|controlvideo   the editor (fatezero); controlvideo generates the target guided by a ControlNet
  --control canny|video    ControlVideo's per-frame control: canny edges of the input (default) or --control-video
  --control-video <video>  a control video: one map per input frame at the input size (depth, pose, line art: what
                           the service's ControlNet expects; no estimator ships, so make the maps yourself)
  --canny-low N            lower canny threshold (100)   --canny-high N   upper canny threshold (200)
  --conditioning-scale S   scale of the ControlNet's residuals (1)
                           --control, --control-video and the canny thresholds imply --editor controlvideo`;

type ControlFlagValues = { [K in keyof typeof CONTROL_FLAG_OPTIONS]?: string } & { preset?: string };

export interface ControlChoice {
  /** Knobs to merge into the request: `editor`, `control`, `conditioningScale`, only those the flags set. */
  knobs: Pick<EditRequest, 'editor' | 'control' | 'conditioningScale'>;
  /** The control video to send with the request, when `control` is {type: 'video'}. */
  controlVideo?: string;
}

/**
 * Turn the editor and control flags into knobs.
 * @throws naming the flag when a value is not allowed or flags contradict each other.
 * @example controlFromFlags({ control: 'canny', 'canny-low': '50' }).knobs // { editor: 'controlvideo', control: { type: 'canny', low: 50 } }
 */
export function controlFromFlags(values: ControlFlagValues): ControlChoice {
  const editor = values.editor;
  if (editor !== undefined && editor !== 'fatezero' && editor !== 'controlvideo') throw new Error(`--editor must be fatezero or controlvideo, got '${editor}'.`);
  const type = values.control ?? (values['control-video'] !== undefined ? 'video' : undefined);
  if (type !== undefined && type !== 'canny' && type !== 'video') {
    throw new Error(`--control must be canny or video, got '${type}' (depth, pose and other maps come as a --control-video).`);
  }
  const low = threshold(values, 'canny-low');
  const high = threshold(values, 'canny-high');
  if (type === 'video' && values['control-video'] === undefined) throw new Error('--control video needs --control-video <file>: the control maps, one per input frame.');
  if (type === 'canny' && values['control-video'] !== undefined) throw new Error('--control-video is a control video; leave out --control canny, or the video.');
  if (type === 'video' && (low !== undefined || high !== undefined)) throw new Error('--canny-low/--canny-high apply to --control canny, not to a control video.');
  const scale = values['conditioning-scale'];
  const conditioningScale = scale === undefined ? undefined : Number(scale);
  if (conditioningScale !== undefined && (scale!.trim() === '' || !Number.isFinite(conditioningScale))) throw new Error(`--conditioning-scale must be a number, got '${scale}'.`);

  const knobs: ControlChoice['knobs'] = {};
  const cannyAsked = low !== undefined || high !== undefined;
  const control: EditRequest['control'] = type === 'video' ? { type: 'video' } : type === 'canny' || cannyAsked ? dropUndefined({ type: 'canny' as const, low, high }) : undefined;
  if (control) knobs.control = control;
  if (conditioningScale !== undefined) knobs.conditioningScale = conditioningScale;
  // Control flags mean ControlVideo; the preset names the editor itself when given.
  if (editor) knobs.editor = editor;
  else if ((control || conditioningScale !== undefined) && values.preset === undefined) knobs.editor = 'controlvideo';
  return { knobs, ...(type === 'video' ? { controlVideo: values['control-video'] } : {}) };
}

function threshold(values: ControlFlagValues, flag: 'canny-low' | 'canny-high'): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag} must be a number, got '${raw}'.`);
  return n;
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
