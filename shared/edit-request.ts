/**
 * The edit request: every knob of the editing method (method.md §2-§6) with its bounds, and the per-preset
 * defaults. One source of truth for the API (validation, OpenAPI), the runner and the engine.
 *
 * A request names a preset and any knobs it wants to override; `resolveEditOptions` fills the rest from
 * `PRESET_DEFAULTS`. A preset only sets defaults: every knob stays settable under every preset.
 */
import { z } from 'zod';
import { problemParams, type ProblemCode } from './errors.ts';
import { findPromptWord, hasVisibleText, promptWords } from './prompt-text.ts';

/**
 * The two editors of the paper: FateZero (inversion + attention fusion) and ControlVideo (generation from noise
 * guided by a ControlNet on per-frame control maps, fully cross-frame attention).
 */
export const EDITORS = ['fatezero', 'controlvideo'] as const;
export type Editor = (typeof EDITORS)[number];

/** Presets of method.md §2, three per editor: faithful, optimized, and with object-centric diffusion. */
export const PRESETS = ['ocd', 'optimized', 'fatezero', 'controlvideo', 'controlvideo-optimized', 'controlvideo-ocd'] as const;
export type Preset = (typeof PRESETS)[number];

/** The editor each preset runs. */
export function editorOfPreset(preset: Preset): Editor {
  return preset.startsWith('controlvideo') ? 'controlvideo' : 'fatezero';
}

/** The preset used when a request names an editor but no preset: that editor's OCD preset. */
export const DEFAULT_PRESET_OF_EDITOR: Readonly<Record<Editor, Preset>> = Object.freeze({ fatezero: 'ocd', controlvideo: 'controlvideo-ocd' });

/** Bounds shared by the schema, the docs and the tests. */
export const EDIT_LIMITS = {
  promptMaxChars: 1000,
  framesMax: 64,
  sizeMin: 128,
  sizeMax: 1024,
  sizeMultiple: 64,
  stepsMax: 100,
  guidanceMax: 30,
  tomeRatioMax: 0.99,
  tomeLevelsMax: 4,
  tomeCellMax: 8,
  betaMax: 100,
  dilateMax: 16,
  reweightWordsMax: 77,
  reweightFactorMax: 10,
  blendWordsMax: 16,
  wordMaxChars: 100,
  seedMax: 2 ** 32 - 1,
  minChannelsMax: 4096,
  samplingRateMax: 100,
  cannyThresholdMax: 1000,
  conditioningScaleMax: 2,
} as const;

const NOT_VISIBLE = 'has no visible characters (only spaces, zero-width or control characters); describe the clip in words';

const prompt = (what: string) =>
  z
    .string()
    .max(EDIT_LIMITS.promptMaxChars, `${what} must be at most ${EDIT_LIMITS.promptMaxChars} characters`)
    .refine(hasVisibleText, { message: `${what} ${NOT_VISIBLE}`, params: problemParams('prompt_not_visible') });

const fraction = z.number().min(0).max(1);
const word = z.string().min(1).max(EDIT_LIMITS.wordMaxChars);
const steps = z.int().min(1).max(EDIT_LIMITS.stepsMax);

const FramesSchema = z.strictObject({
  count: z.int().min(1).max(EDIT_LIMITS.framesMax).optional().describe('How many frames to edit (default 8).'),
  selection: z
    .enum(['first', 'spread'])
    .optional()
    .describe("'spread' picks frames evenly spaced over the clip; 'first' takes `count` consecutive frames from the start, every `samplingRate`-th (fatezero)."),
  samplingRate: z.int().min(1).max(EDIT_LIMITS.samplingRateMax).optional().describe("With selection 'first': source frames between chosen ones (FateZero's sampling_rate; 1)."),
  square: z.boolean().optional().describe('Centre-crop to size x size as FateZero does (fatezero) instead of keeping the aspect ratio (sides cropped to multiples of 64).'),
});

const SamplerSchema = z.strictObject({
  kind: z.enum(['ddim', 'dpmsolver++']).optional().describe("Editing sampler: 'ddim' (fatezero) or 'dpmsolver++' (2M)."),
  steps: steps.optional().describe('Denoising steps (fatezero 50, otherwise 20).'),
  guidance: z.number().min(0).max(EDIT_LIMITS.guidanceMax).optional().describe('Classifier-free guidance scale (7.5).'),
});

const InversionSchema = z.strictObject({
  steps: steps.optional().describe('DDIM inversion steps; paired with the editing steps, so it must equal sampler.steps.'),
});

const BlendWordsSchema = z.strictObject({
  source: z.array(word).min(1).max(EDIT_LIMITS.blendWordsMax).describe('Words of the source prompt that mark the edited object.'),
  target: z.array(word).min(1).max(EDIT_LIMITS.blendWordsMax).describe('Words of the target prompt that mark the new object.'),
});

const FusionSchema = z.strictObject({
  controller: z
    .enum(['auto', 'refine', 'replace'])
    .optional()
    .describe("Cross-attention fusion: 'replace' needs equal word counts; 'auto' picks replace when counts match, else refine."),
  crossReplaceSteps: fraction.optional().describe('Fraction of editing steps that fuse cross-attention (0.8).'),
  selfReplaceSteps: fraction.optional().describe('Fraction of editing steps that fuse self-attention (0.9).'),
  reweight: z
    .record(word, z.number().min(-EDIT_LIMITS.reweightFactorMax).max(EDIT_LIMITS.reweightFactorMax))
    .refine((map) => Object.keys(map).length <= EDIT_LIMITS.reweightWordsMax, `at most ${EDIT_LIMITS.reweightWordsMax} reweighted words`)
    .optional()
    .describe('Per-word attention reweighting of target words, e.g. {"red": 2}.'),
  blendWords: BlendWordsSchema.nullable().optional().describe('Words whose attention defines the blend mask; null = no blend mask.'),
  blendThreshold: fraction.optional().describe('Threshold of the normalized blend-word attention (0.3).'),
  store: z
    .enum(['auto', 'memory', 'disk'])
    .optional()
    .describe("Where recorded attention maps live: 'auto' (where the model runs), 'memory' (host), 'disk'."),
});

const TomeSchema = z.strictObject({
  enabled: z.boolean().optional().describe('Token merging in self-attention.'),
  ratio: z
    .array(z.number().min(0).max(EDIT_LIMITS.tomeRatioMax))
    .min(1)
    .max(EDIT_LIMITS.tomeLevelsMax)
    .optional()
    .describe('Merge ratio per UNet level, highest resolution first; its length is the deepest merged level.'),
  sx: z.int().min(1).max(EDIT_LIMITS.tomeCellMax).optional().describe('Destination cell width in tokens (2).'),
  sy: z.int().min(1).max(EDIT_LIMITS.tomeCellMax).optional().describe('Destination cell height in tokens (2).'),
  paired: z.boolean().optional().describe('Reuse the inversion merge plan at the same editing timestep (true).'),
  resamplePerFrame: z.boolean().optional().describe('Draw destination offsets independently per frame (true).'),
  scope: z
    .enum(['frame', 'clip'])
    .optional()
    .describe("'frame' merges within each frame; 'clip' pools the frames where attention spans frames (st x sy x sx cells)."),
  st: z.int().min(1).max(EDIT_LIMITS.framesMax).optional().describe('Destination cell length in frames at clip scope (2).'),
  target: z
    .enum(['all', 'kv'])
    .optional()
    .describe("'all' merges queries, keys and values (output unmerged); 'kv' merges keys/values only (queries at full resolution)."),
  objectCentric: z.boolean().optional().describe('Down-weight foreground sources so merging happens in the background.'),
  beta: z.number().min(0).max(EDIT_LIMITS.betaMax).optional().describe('Foreground penalty on merge scores (10).'),
});

const OCDSchema = z.strictObject({
  sampling: z.boolean().optional().describe('Object-centric sampling: fewer background steps.'),
  gamma: fraction.optional().describe('Fraction of steps in the decoupled phase (0.5).'),
  phi: z.number().gt(0).max(1).optional().describe('Fraction of decoupled steps the background runs (0.25).'),
  background: z.enum(['coarse', 'inversion']).optional().describe("Background branch: 'coarse' (default) or 'inversion'."),
  mask: z
    .enum(['auto', 'video', 'none'])
    .optional()
    .describe("Saliency mask: 'video' (the uploaded mask), 'auto' (blend-word attention), 'none'."),
  maskThreshold: fraction.optional().describe('Threshold of the auto mask (0.3).'),
  dilate: z.int().min(0).max(EDIT_LIMITS.dilateMax).optional().describe('Mask dilation in latent pixels (2).'),
});

const CrossFrameSchema = z.strictObject({
  minChannels: z
    .int()
    .min(1)
    .max(EDIT_LIMITS.minChannelsMax)
    .nullable()
    .optional()
    .describe("Self-attention in blocks with at least this many channels takes its keys and values from the clip's middle frame (FateZero's least_sc_channel); narrower blocks attend within each frame. null = the model's second block width (640 on SD1.5, as FateZero's configs)."),
  groupNorm: z
    .enum(['clip', 'frame'])
    .optional()
    .describe("GroupNorm statistics of the UNet's ResNet blocks and output norm: over the whole clip as FateZero's inflated UNet ('clip', every preset) or per frame ('frame')."),
});

const cannyThreshold = z.number().min(0).max(EDIT_LIMITS.cannyThresholdMax);

/** The control signal of the ControlVideo editor: edges computed from the input, or a map video the caller uploads. */
const ControlSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('canny'),
      low: cannyThreshold.optional().describe('Lower hysteresis threshold of the Canny edge detector (100).'),
      high: cannyThreshold.optional().describe('Upper hysteresis threshold (200).'),
    }),
    z.strictObject({
      type: z.literal('video').describe('A control video (depth, pose, lineart: the map the ControlNet expects), uploaded with the request.'),
    }),
  ])
  .describe("ControlVideo's per-frame control: canny edges of the input (default) or an uploaded control video.");

/** The knobs of an edit, without the inputs. Every field but the prompts is optional. */
export const EditKnobsSchema = z.strictObject({
  editor: z
    .enum(EDITORS)
    .optional()
    .describe("The editor: 'fatezero' (inversion + attention fusion, default) or 'controlvideo' (ControlNet-guided generation). Implied by the preset when one is named."),
  preset: z
    .enum(PRESETS)
    .optional()
    .describe("Defaults to apply: 'ocd' (default), 'optimized' or 'fatezero' for the FateZero editor; 'controlvideo-ocd', 'controlvideo-optimized' or 'controlvideo' for ControlVideo."),
  sourcePrompt: prompt('sourcePrompt').describe('What the clip shows now, e.g. "a brown bear walking".'),
  targetPrompt: prompt('targetPrompt').describe('What it should show, e.g. "a red tiger walking".'),
  negativePrompt: z.string().max(EDIT_LIMITS.promptMaxChars).optional().describe("Unconditional prompt ('')."),
  seed: z.int().min(0).max(EDIT_LIMITS.seedMax).optional().describe('Random seed (0); the same seed gives the same edit.'),
  frames: FramesSchema.optional(),
  size: z
    .int()
    .min(EDIT_LIMITS.sizeMin)
    .max(EDIT_LIMITS.sizeMax)
    .multipleOf(EDIT_LIMITS.sizeMultiple)
    .nullable()
    .optional()
    .describe('Working size of the short side in pixels, a multiple of 64; null = the model default.'),
  sampler: SamplerSchema.optional(),
  inversion: InversionSchema.optional(),
  fusion: FusionSchema.optional(),
  tome: TomeSchema.optional(),
  ocd: OCDSchema.optional(),
  crossFrame: CrossFrameSchema.optional(),
  control: ControlSchema.optional(),
  conditioningScale: z
    .number()
    .min(0)
    .max(EDIT_LIMITS.conditioningScaleMax)
    .optional()
    .describe("Scale of the ControlNet's residuals (ControlVideo's controlnet_conditioning_scale, 1)."),
});

/** The edit request as the engine and CLI take it. */
export type EditRequest = z.infer<typeof EditKnobsSchema>;

/** Every knob resolved: what the engine runs with and what the report records. */
export interface EditOptions {
  editor: Editor;
  preset: Preset;
  sourcePrompt: string;
  targetPrompt: string;
  negativePrompt: string;
  seed: number;
  frames: { count: number; selection: 'first' | 'spread'; samplingRate: number; square: boolean };
  size: number | null;
  sampler: { kind: 'ddim' | 'dpmsolver++'; steps: number; guidance: number };
  inversion: { steps: number };
  fusion: {
    controller: 'auto' | 'refine' | 'replace';
    crossReplaceSteps: number;
    selfReplaceSteps: number;
    reweight: Record<string, number>;
    blendWords: { source: string[]; target: string[] } | null;
    blendThreshold: number;
    store: 'auto' | 'memory' | 'disk';
  };
  tome: {
    enabled: boolean;
    ratio: number[];
    sx: number;
    sy: number;
    paired: boolean;
    resamplePerFrame: boolean;
    scope: 'frame' | 'clip';
    st: number;
    target: 'all' | 'kv';
    objectCentric: boolean;
    beta: number;
  };
  ocd: {
    sampling: boolean;
    gamma: number;
    phi: number;
    background: 'coarse' | 'inversion';
    mask: 'auto' | 'video' | 'none';
    maskThreshold: number;
    dilate: number;
  };
  crossFrame: { minChannels: number | null; groupNorm: 'clip' | 'frame' };
  /** ControlVideo only (null for FateZero): the control signal. */
  control: { type: 'canny'; low: number; high: number } | { type: 'video' } | null;
  /** ControlVideo only: scale of the ControlNet's residuals. */
  conditioningScale: number;
}

/** Defaults per preset: everything except the prompts and the editor (which the preset implies). */
export type PresetDefaults = Omit<EditOptions, 'editor' | 'preset' | 'sourcePrompt' | 'targetPrompt'>;

const COMMON_DEFAULTS: PresetDefaults = {
  negativePrompt: '',
  seed: 0,
  frames: { count: 8, selection: 'spread', samplingRate: 1, square: false },
  size: null,
  sampler: { kind: 'dpmsolver++', steps: 20, guidance: 7.5 },
  inversion: { steps: 20 },
  fusion: {
    controller: 'auto',
    crossReplaceSteps: 0.8,
    selfReplaceSteps: 0.9,
    reweight: {},
    blendWords: null,
    blendThreshold: 0.3,
    store: 'auto',
  },
  tome: {
    enabled: false,
    ratio: [0.5],
    sx: 2,
    sy: 2,
    paired: true,
    resamplePerFrame: true,
    scope: 'frame',
    st: 2,
    target: 'all',
    objectCentric: false,
    beta: 10,
  },
  ocd: { sampling: false, gamma: 0.5, phi: 0.25, background: 'coarse', mask: 'none', maskThreshold: 0.3, dilate: 2 },
  // every preset runs FateZero's inflated UNet (OCD accelerates it); 'frame' stays available
  crossFrame: { minChannels: null, groupNorm: 'clip' },
  control: null,
  conditioningScale: 1,
};

/**
 * ControlVideo's negative prompt (its inference.py; the typo "difits" is upstream's and part of what the text
 * encoder sees). The default `negativePrompt` of the controlvideo presets.
 */
export const CONTROLVIDEO_NEGATIVE_PROMPT = 'longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer difits, cropped, worst quality, low quality, deformed body, bloated, ugly, unrealistic';

/**
 * ControlVideo's inference defaults (its inference.py): DDIM 50 steps, guidance 12.5, 15 consecutive frames, canny
 * 100/200, conditioning scale 1, its negative prompt. Its positive suffix is appended by the engine
 * (gpu-runner/engine/controlvideo/defaults.ts). No inversion: `inversion` follows the sampler and `fusion` does not
 * apply; token merging is never paired (there is no inversion plan to pair with).
 */
const CONTROLVIDEO_COMMON: PresetDefaults = {
  ...COMMON_DEFAULTS,
  negativePrompt: CONTROLVIDEO_NEGATIVE_PROMPT,
  frames: { ...COMMON_DEFAULTS.frames, count: 15, selection: 'first' },
  sampler: { kind: 'ddim', steps: 50, guidance: 12.5 },
  inversion: { steps: 50 },
  tome: { ...COMMON_DEFAULTS.tome, paired: false },
  control: { type: 'canny', low: 100, high: 200 },
};

/** The defaults of each preset (method.md §2). Frozen: copy before changing. */
export const PRESET_DEFAULTS: Readonly<Record<Preset, Readonly<PresetDefaults>>> = deepFreeze({
  // Faithful to FateZero so speed-up ratios mean what the paper's mean: DDIM 50, host attention store, no merging,
  // and its preprocessing (consecutive frames, square centre crop).
  fatezero: {
    ...COMMON_DEFAULTS,
    frames: { ...COMMON_DEFAULTS.frames, selection: 'first', square: true },
    sampler: { kind: 'ddim', steps: 50, guidance: 7.5 },
    inversion: { steps: 50 },
    fusion: { ...COMMON_DEFAULTS.fusion, store: 'memory' },
  },
  // DPM-Solver++ 20 steps, paired per-frame-resampled ToMe at the highest level.
  optimized: {
    ...COMMON_DEFAULTS,
    tome: { ...COMMON_DEFAULTS.tome, enabled: true, ratio: [0.5] },
  },
  // Optimized plus object-centric ToMe and object-centric sampling (gamma 0.5, phi 0.25). Merging: 0.5 at the
  // highest level (per-frame attention, 2x2 cells: a third of the sources stay for the foreground penalty to
  // choose among), 0.75 with clip scope (2x2x2 cells, cell maximum 0.875) where attention spans frames.
  ocd: {
    ...COMMON_DEFAULTS,
    tome: { ...COMMON_DEFAULTS.tome, enabled: true, ratio: [0.5, 0.75], scope: 'clip', st: 2, objectCentric: true },
    ocd: { ...COMMON_DEFAULTS.ocd, sampling: true, mask: 'auto' },
  },
  // ControlVideo as its authors run it (fully cross-frame attention, DDIM 50, guidance 12.5).
  controlvideo: CONTROLVIDEO_COMMON,
  // DPM-Solver++ 20 steps and token merging across time and space in the cross-frame attention.
  'controlvideo-optimized': {
    ...CONTROLVIDEO_COMMON,
    sampler: { kind: 'dpmsolver++', steps: 20, guidance: 12.5 },
    inversion: { steps: 20 },
    tome: { ...CONTROLVIDEO_COMMON.tome, enabled: true, ratio: [0.75], scope: 'clip', st: 2 },
  },
  // Optimized plus object-centric token merging and object-centric sampling.
  'controlvideo-ocd': {
    ...CONTROLVIDEO_COMMON,
    sampler: { kind: 'dpmsolver++', steps: 20, guidance: 12.5 },
    inversion: { steps: 20 },
    tome: { ...CONTROLVIDEO_COMMON.tome, enabled: true, ratio: [0.75], scope: 'clip', st: 2, objectCentric: true },
    ocd: { ...COMMON_DEFAULTS.ocd, sampling: true, mask: 'auto' },
  },
});

/** The preset used when a request names none. */
export const DEFAULT_PRESET: Preset = 'ocd';

/** What the caller supplied besides the knobs, which changes some defaults. */
export interface EditContext {
  /** A mask video came with the request: `ocd.mask` then defaults to 'video'. */
  hasMaskVideo?: boolean;
  /** A control video came with the request: `control` then defaults to {type: 'video'}. */
  hasControlVideo?: boolean;
}

/**
 * Apply the preset's defaults to a request. Explicit knobs always win; `inversion.steps` defaults to the
 * resolved `sampler.steps` because inversion and editing share their timesteps.
 *
 * @throws Error when the resolved knobs contradict each other (see `checkEditOptions`).
 * @example resolveEditOptions({ sourcePrompt: 'a bear', targetPrompt: 'a tiger', preset: 'optimized' }).sampler.steps // 20
 */
export function resolveEditOptions(request: EditRequest, context: EditContext = {}): EditOptions {
  const options = resolveEditDefaults(request, context);
  const problems = checkEditOptions(options, context);
  if (problems.length > 0) throw new Error(describeEditProblems(problems));
  return options;
}

/** One line naming every problem, for errors outside the API (engine, CLI). */
export function describeEditProblems(problems: readonly EditOptionsProblem[]): string {
  return `Invalid edit options: ${problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ')}`;
}

/**
 * Apply the preset's defaults without the cross-field checks (for validators that report problems as values).
 */
export function resolveEditDefaults(request: EditRequest, context: EditContext = {}): EditOptions {
  const preset = request.preset ?? (request.editor ? DEFAULT_PRESET_OF_EDITOR[request.editor] : DEFAULT_PRESET);
  const editor = request.editor ?? editorOfPreset(preset);
  const base = PRESET_DEFAULTS[preset];
  const sampler = { ...base.sampler, ...defined(request.sampler) };
  const defaultMask = context.hasMaskVideo ? 'video' : base.ocd.mask;
  return {
    editor,
    preset,
    sourcePrompt: request.sourcePrompt,
    targetPrompt: request.targetPrompt,
    negativePrompt: request.negativePrompt ?? base.negativePrompt,
    seed: request.seed ?? base.seed,
    frames: { ...base.frames, ...defined(request.frames) },
    size: request.size === undefined ? base.size : request.size,
    sampler,
    inversion: { steps: request.inversion?.steps ?? sampler.steps },
    fusion: {
      ...base.fusion,
      reweight: { ...base.fusion.reweight },
      blendWords: base.fusion.blendWords && { source: [...base.fusion.blendWords.source], target: [...base.fusion.blendWords.target] },
      ...defined(request.fusion),
    },
    tome: { ...base.tome, ratio: [...base.tome.ratio], ...defined(request.tome) },
    ocd: { ...base.ocd, mask: defaultMask, ...defined(request.ocd) },
    crossFrame: { ...base.crossFrame, ...defined(request.crossFrame) },
    control: resolveControl(request.control, base.control, context),
    conditioningScale: request.conditioningScale ?? base.conditioningScale,
  };
}

/** The request's control over the preset's; a control video given with the request makes 'video' the default. */
function resolveControl(requested: EditRequest['control'], base: EditOptions['control'], context: EditContext): EditOptions['control'] {
  if (requested?.type === 'video') return { type: 'video' };
  if (requested?.type === 'canny') {
    const defaults = base?.type === 'canny' ? base : { low: 100, high: 200 };
    return { type: 'canny', low: requested.low ?? defaults.low, high: requested.high ?? defaults.high };
  }
  if (context.hasControlVideo && base !== null) return { type: 'video' };
  return base && { ...base };
}

/** A contradiction between resolved knobs, or a knob the engine cannot run. */
export interface EditOptionsProblem {
  path: (string | number)[];
  message: string;
  /** The rule's own problem code; absent for plain validation (`validation_failed`). */
  code?: ProblemCode;
}

/**
 * Everything a request must satisfy beyond single-field bounds, checked on the resolved knobs. The API runs it
 * at create time and the engine again before it starts, so a request the API accepts is one the engine runs.
 * Empty when the options are consistent.
 */
export function checkEditOptions(options: EditOptions, context: EditContext = {}): EditOptionsProblem[] {
  const problems: EditOptionsProblem[] = [...promptProblems(options)];
  if (options.inversion.steps !== options.sampler.steps) {
    problems.push({
      path: ['inversion', 'steps'],
      message: `is ${options.inversion.steps} but sampler.steps is ${options.sampler.steps}; editing step c uses the maps inversion recorded at the same timestep, so set both to the same value (or leave inversion.steps out)`,
    });
  }
  problems.push(...checkTomeRatios(options.tome), ...controlProblems(options, context), ...controlVideoProblems(options));
  if (options.ocd.mask === 'video' && context.hasMaskVideo === false) {
    problems.push({ path: ['ocd', 'mask'], message: "is 'video' but no mask video was given; upload one as `mask` or choose 'auto' or 'none'" });
  }
  return problems;
}

/**
 * A ratio above the cell maximum (1 - 1/cell size: every source merged) would merge no more than the maximum; it
 * is rejected so that a ratio always means what it says. Clip scope allows 1 - 1/(st·sy·sx); layers whose
 * attention is per frame keep frame scope there and merge at most 1 - 1/(sy·sx).
 */
function checkTomeRatios(tome: EditOptions['tome']): EditOptionsProblem[] {
  if (!tome.enabled) return [];
  const cell = tome.sx * tome.sy * (tome.scope === 'clip' ? tome.st : 1);
  const max = 1 - 1 / cell;
  return tome.ratio.flatMap((ratio, level) => (ratio > max
    ? [{ path: ['tome', 'ratio', level], message: `is ${ratio} but ${tome.scope} scope with ${tome.scope === 'clip' ? `${tome.st}x` : ''}${tome.sy}x${tome.sx} cells merges at most ${max.toFixed(4)} (every source); lower it, or use larger cells${tome.scope === 'frame' ? " or scope 'clip'" : ''}` }]
    : []));
}

/** The editor, the preset and the control agree, and a control video is there when asked for. */
function controlProblems(options: EditOptions, context: EditContext): EditOptionsProblem[] {
  const problems: EditOptionsProblem[] = [];
  if (editorOfPreset(options.preset) !== options.editor) {
    problems.push({ path: ['editor'], message: `is '${options.editor}' but preset '${options.preset}' belongs to the ${editorOfPreset(options.preset)} editor; leave one of them out or pick a ${options.editor} preset` });
  }
  const control = options.control;
  if (options.editor === 'fatezero' && control !== null) {
    problems.push({ path: ['control'], message: "applies to the 'controlvideo' editor only; the FateZero editor follows the input clip by inversion" });
  }
  if (control?.type === 'canny' && control.low > control.high) {
    problems.push({ path: ['control', 'low'], message: `is ${control.low}, above control.high (${control.high}); the lower hysteresis threshold must not exceed the upper` });
  }
  if (control?.type === 'video' && context.hasControlVideo === false) {
    problems.push({ path: ['control'], message: "is {type: 'video'} but no control video was given; upload one with the request or use {type: 'canny'}" });
  }
  return problems;
}

/**
 * Knobs that mean nothing to ControlVideo, which generates from noise: no inversion, so no attention fusion, no
 * paired merge plans and no inversion background. Refused when set to anything but the preset's value, so that a
 * request never carries a knob that silently does nothing.
 */
function controlVideoProblems(options: EditOptions): EditOptionsProblem[] {
  if (options.editor !== 'controlvideo') return [];
  const problems: EditOptionsProblem[] = [];
  const base = PRESET_DEFAULTS[options.preset];
  const fusion = options.fusion;
  for (const key of Object.keys(base.fusion) as (keyof EditOptions['fusion'])[]) {
    if (JSON.stringify(fusion[key]) !== JSON.stringify(base.fusion[key])) {
      problems.push({ path: ['fusion', key], message: "is attention fusion, which needs an inversion; the 'controlvideo' editor generates from noise and has none. Leave fusion out", code: 'option_not_implemented' });
    }
  }
  if (options.tome.enabled && options.tome.paired) {
    problems.push({ path: ['tome', 'paired'], message: "is true, but pairing reuses an inversion's merge plans and the 'controlvideo' editor has no inversion; set it to false or leave it out", code: 'option_not_implemented' });
  }
  if (options.tome.enabled && options.tome.scope === 'frame' && options.tome.target === 'kv') {
    problems.push({ path: ['tome', 'target'], message: "is 'kv' with frame scope, which fully cross-frame attention cannot use; use scope 'clip' or target 'all'", code: 'option_not_implemented' });
  }
  if (options.ocd.sampling && options.ocd.background === 'inversion') {
    problems.push({ path: ['ocd', 'background'], message: "is 'inversion', but the 'controlvideo' editor has no inversion; its background branch is the coarse sampler ('coarse')", code: 'option_not_implemented' });
  }
  return problems;
}

/** Prompts that draw nothing, and word-based knobs that name words their prompt does not have. */
function promptProblems(options: EditOptions): EditOptionsProblem[] {
  const problems: EditOptionsProblem[] = [];
  for (const name of ['sourcePrompt', 'targetPrompt'] as const) {
    if (!hasVisibleText(options[name])) problems.push({ path: [name], message: `${name} ${NOT_VISIBLE}`, code: 'prompt_not_visible' });
  }
  const source = promptWords(options.sourcePrompt);
  const target = promptWords(options.targetPrompt);
  const { controller, blendWords, reweight } = options.fusion;
  if (controller === 'replace' && source.length !== target.length) {
    problems.push({
      path: ['fusion', 'controller'],
      message: `is 'replace' (a word swap), which needs prompts with the same number of words; the source has ${source.length} (${source.join(' ')}), the target ${target.length} (${target.join(' ')}). Use 'refine' or 'auto'`,
      code: 'replace_word_count',
    });
  }
  for (const side of ['source', 'target'] as const) {
    const words = side === 'source' ? source : target;
    blendWords?.[side].forEach((word, i) => {
      if (findPromptWord(words, word) < 0) {
        problems.push({
          path: ['fusion', 'blendWords', side, i],
          message: `${JSON.stringify(word)} is not a word of the ${side} prompt (its words: ${words.join(', ')}); name a word as it appears there`,
          code: 'blend_word_not_in_prompt',
        });
      }
    });
  }
  for (const word of Object.keys(reweight)) {
    if (findPromptWord(target, word) < 0) {
      problems.push({
        path: ['fusion', 'reweight', word],
        message: `${JSON.stringify(word)} is not a word of the target prompt (its words: ${target.join(', ')}); name a word as it appears there`,
        code: 'reweight_word_not_in_prompt',
      });
    }
  }
  return problems;
}

/**
 * The cross-field checks as zod issues, for schemas that embed the knobs. They only run once every field is valid
 * on its own, so a field is never reported twice.
 */
export function editKnobIssues(knobs: EditRequest, context: EditContext = {}) {
  if (!EditKnobsSchema.safeParse(knobs).success) return [];
  return checkEditOptions(resolveEditDefaults(knobs, context), context).map((problem) => ({
    code: 'custom' as const,
    path: problem.path,
    message: problem.message,
    ...(problem.code ? { params: problemParams(problem.code) } : {}),
  }));
}

/** The edit request schema with cross-field checks: what the API validates (plus its inputs, see `api.ts`). */
export const EditRequestSchema = EditKnobsSchema.superRefine((request, ctx) => {
  for (const issue of editKnobIssues(request)) ctx.addIssue(issue);
});

/** Drop keys whose value is undefined so that spreading does not erase a default. */
function defined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
