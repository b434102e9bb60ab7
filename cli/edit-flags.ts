/**
 * The edit flags shared by `ocd edit` (local engine) and `ocd submit` (the API): one parser, so both commands
 * accept the same spelling and produce the same edit knobs (shared/edit-request.ts).
 */
import type { ParseArgsConfig } from 'node:util';
import { deepMerge, parseSetOverrides } from './set-options.ts';

/** node:util parseArgs options for the knobs. */
export const EDIT_FLAG_OPTIONS = {
  source: { type: 'string' },
  target: { type: 'string' },
  preset: { type: 'string' },
  'blend-words': { type: 'string' },
  frames: { type: 'string' },
  size: { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  seed: { type: 'string' },
  editor: { type: 'string' },
  control: { type: 'string' },
  'conditioning-scale': { type: 'string' },
  set: { type: 'string', multiple: true },
} as const satisfies ParseArgsConfig['options'];

export const EDIT_FLAGS_HELP = `  --source "<text>"        what the clip shows (required)
  --target "<text>"        what it should show (required)
  --preset ocd|optimized|fatezero   defaults to apply (ocd)
  --blend-words SRC[:TGT]  words marking the edited object, comma-separated, e.g. "silver,jeep:Porsche,car"
  --frames N               frames to edit (8)         --size PX   working size, multiple of 64
  --steps N                denoising steps            --guidance G   classifier-free guidance (7.5)
  --seed N                 random seed (0)
  --editor fatezero|controlvideo    the editor (implied by the preset; controlvideo presets: controlvideo,
                           controlvideo-optimized, controlvideo-ocd)
  --control canny|video    ControlVideo's control: canny edges of the clip (default) or a control video
  --conditioning-scale S   ControlVideo: scale of the ControlNet's residuals (1)
  --set key=value          any knob, e.g. --set ocd.gamma=0.6 --set tome.ratio=[0.75,0.5] (repeatable)`;

type FlagValues = { [K in keyof typeof EDIT_FLAG_OPTIONS]?: K extends 'set' ? string[] : string };

/**
 * Turns parsed flags into edit knobs (the EditKnobs shape, unvalidated: the schema validates them).
 * @throws when a required prompt is missing or a number does not parse, naming the flag.
 */
export function knobsFromFlags(values: FlagValues): Record<string, unknown> {
  if (!values.source || !values.target) throw new Error('--source and --target are required (what the clip shows, and what it should show).');
  const num = (flag: keyof FlagValues, whole: boolean): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    const ok = typeof raw === 'string' && raw.trim() !== '' && (whole ? Number.isInteger(n) : Number.isFinite(n));
    if (!ok) throw new Error(`--${flag} must be ${whole ? 'a whole number' : 'a number'}, got '${String(raw)}'.`);
    return n;
  };
  const knobs: Record<string, unknown> = { sourcePrompt: values.source, targetPrompt: values.target };
  if (values.preset) knobs.preset = values.preset;
  if (values.editor) knobs.editor = values.editor;
  if (values.control !== undefined) {
    if (values.control !== 'canny' && values.control !== 'video') throw new Error(`--control must be canny or video, got '${values.control}'.`);
    knobs.control = { type: values.control };
  }
  if (values['conditioning-scale'] !== undefined) knobs.conditioningScale = num('conditioning-scale', false);
  if (values.seed !== undefined) knobs.seed = num('seed', true);
  if (values.frames !== undefined) knobs.frames = { count: num('frames', true) };
  if (values.size !== undefined) knobs.size = num('size', true);
  const sampler = { steps: num('steps', true), guidance: num('guidance', false) };
  if (sampler.steps !== undefined || sampler.guidance !== undefined) knobs.sampler = dropUndefined(sampler);
  if (values['blend-words']) knobs.fusion = { blendWords: parseBlendWords(values['blend-words']) };
  return deepMerge(knobs, parseSetOverrides(values.set ?? []));
}

/** "silver,jeep:Porsche,car" -> { source: [silver, jeep], target: [Porsche, car] }; no ":TGT" means the same words. */
export function parseBlendWords(value: string): { source: string[]; target: string[] } {
  const [src, tgt, ...rest] = value.split(':');
  const list = (s: string | undefined) => (s ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  const source = list(src);
  const target = tgt === undefined ? source : list(tgt);
  if (rest.length > 0 || source.length === 0 || target.length === 0) {
    throw new Error(`--blend-words expects SRC[:TGT] with comma-separated words, e.g. "jeep:car"; got '${value}'.`);
  }
  return { source, target };
}

function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
