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
  set: { type: 'string', multiple: true },
} as const satisfies ParseArgsConfig['options'];

export const EDIT_FLAGS_HELP = `  --source "<text>"        what the clip shows (required)
  --target "<text>"        what it should show (required)
  --preset ocd|optimized|fatezero   defaults to apply (ocd)
  --blend-words "<source words>/<target words>"   e.g. "brown bear/red tiger": the edited object's words
  --frames N               frames to edit (8)         --size PX   working size, multiple of 64
  --steps N                denoising steps            --guidance G   classifier-free guidance (7.5)
  --seed N                 random seed (0)
  --set key=value          any knob, e.g. --set ocd.gamma=0.6 --set tome.ratio=[0.75,0.5] (repeatable)`;

type FlagValues = { [K in keyof typeof EDIT_FLAG_OPTIONS]?: K extends 'set' ? string[] : string };

/**
 * Turns parsed flags into edit knobs (the EditKnobs shape, unvalidated: the schema validates them).
 * @throws when a required prompt is missing or a number does not parse, naming the flag.
 */
export function knobsFromFlags(values: FlagValues): Record<string, unknown> {
  if (!values.source || !values.target) throw new Error('--source and --target are required (what the clip shows, what it should show).');
  const num = (flag: keyof FlagValues): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag} expects a number, got '${String(raw)}'.`);
    return n;
  };
  const knobs: Record<string, unknown> = { sourcePrompt: values.source, targetPrompt: values.target };
  if (values.preset) knobs.preset = values.preset;
  if (values.seed !== undefined) knobs.seed = num('seed');
  if (values.frames !== undefined) knobs.frames = { count: num('frames') };
  if (values.size !== undefined) knobs.size = num('size');
  const sampler = { steps: num('steps'), guidance: num('guidance') };
  if (sampler.steps !== undefined || sampler.guidance !== undefined) knobs.sampler = dropUndefined(sampler);
  if (values['blend-words']) knobs.fusion = { blendWords: parseBlendWords(values['blend-words']) };
  return deepMerge(knobs, parseSetOverrides(values.set ?? []));
}

/** "brown bear/red tiger" -> { source: ['brown','bear'], target: ['red','tiger'] } */
export function parseBlendWords(spec: string): { source: string[]; target: string[] } {
  const parts = spec.split('/');
  const words = (s: string | undefined) => (s ?? '').trim().split(/\s+/).filter(Boolean);
  const [source, target] = [words(parts[0]), words(parts[1])];
  if (parts.length !== 2 || source.length === 0 || target.length === 0) {
    throw new Error(`--blend-words expects "<source words>/<target words>", e.g. "brown bear/red tiger"; got '${spec}'.`);
  }
  return { source, target };
}

function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
