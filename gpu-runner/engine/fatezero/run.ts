/**
 * The FateZero editor (method.md §3-§6): FateZero inversion + attention fusion, with DPM-Solver++, paired token
 * merging and object-centric sampling as options, over the shared stage modules (samplers, fusion/, tome/, ocs.ts,
 * stages/). Composed from an injected `EditModel`; no paths, no env. `engine/pipeline.ts` dispatches here.
 *
 * Stages (each a function below):
 *   1. checkInputs        frames, mask and knobs agree
 *   2. encodePrompts      negative/source/target embeddings, the cross-attention mapping, blend-word tokens
 *   3. encodeFrames       VAE posterior mean * scaling factor
 *   4. prepareTimesteps   editing sampler and the paired inversion
 *   5. invert             DDIM inversion with the source prompt; records maps (+ merge plans) and latents
 *   6. edit               fused denoising (optionally object-centric: foreground/background then joint)
 *   7. decode             VAE decode, clamp, back to RGB frames
 *   8. report             method.md §7
 */
import { checkEditOptions, describeEditProblems, type EditOptions } from '../../../shared/edit-request.ts';
import type { AttentionHooks } from '../../models/unet/hooks.ts';
import { classifierFreeGuidance } from '../../schedulers/guidance.ts';
import { AttentionStore } from '../attention-store.ts';
import { EngineError, throwIfCanceled } from '../errors.ts';
import { blendMask, type CrossMap, resizeNearest } from '../fusion/blend-mask.ts';
import { blendSites } from '../fusion/blend-sites.ts';
import { type ControlledSite, blendInputName, FUSION_INPUTS, fusionHooks, isControlled, recordedOutputName, recordingHooks, sourceInputName } from '../fusion/hooks.ts';
import { buildCrossAttentionMapping, type CrossAttentionMapping, crossReplaceActive, selfReplaceActive } from '../fusion/seq-aligner.ts';
import type { EditModel, IntTensor, Tensor, UNetRunner, UNetVariant } from '../model.ts';
import {
  attentionSaliency, type Box, boxAtLevel, cropLatent, decoupledSchedule, foregroundBox, isFullFrame, latentMaskFromVideo, maskArea, restrictMap,
  restrictMapVia,
} from '../ocs.ts';
import { chooseController, wordTokenPositions } from '../presets.ts';
import { wordShareOfPrompt } from '../saliency-attention.ts';
import { chooseSaliencyWords, type SaliencyWords } from '../saliency-words.ts';
import { emptyMaskNote, type EditReport, type MaskSource, noMaskNote, type StageTimes } from '../report.ts';
import { createInversion, createSampler, type EditingSampler, type Inversion } from '../sampling.ts';
import { tomeHooks, type TomeRun, type TomeSite } from '../tome/hooks.ts';
import { restrictMergedMap, valuesPerMapRow } from '../tome/map-layout.ts';
import { countLoad, createCounters, type RunCounters, stageTimer } from '../stages/counters.ts';
import { coarseBackground, joinForeground } from '../stages/decoupled.ts';
import { decodeFrames, encodeFrames, type LatentGeometry } from '../stages/frames.ts';
import type { EditProgress, FrameSet, RunEditResult } from '../stages/run-types.ts';

/** A FateZero run's inputs. */
export interface FateZeroArgs {
  readonly input: FrameSet;
  /** [F, H, W] in [0, 1] at the frames' size (white = edit), for `ocd.mask = 'video'`. */
  readonly mask?: Float32Array;
  readonly options: EditOptions;
  readonly model: EditModel;
  readonly onProgress?: (p: EditProgress) => void;
  readonly signal?: AbortSignal;
  /** Folder for spilled attention maps. Without it the store never spills. */
  readonly spillDir?: string;
  /** Bytes of attention maps kept in memory before spilling. @default Infinity */
  readonly storeBudgetBytes?: number;
  /** Extra report fields from the caller (decode/encode timings). */
  readonly timings?: Partial<StageTimes>;
}

interface Prompts {
  negative: Float32Array; // [77, D]
  source: Float32Array;
  target: Float32Array;
  mapping: CrossAttentionMapping;
  controller: 'refine' | 'replace';
  /** source-prompt token positions of the fusion blend words (null: full self-attention replacement) */
  fusionBlendTokens: number[] | null;
  /** the saliency words (explicit blend words, the prompts' difference or the target's content words) */
  saliency: SaliencyWords;
  truncated: boolean;
}

interface Geometry extends LatentGeometry {
  contextChannels: number;
}

type Counters = RunCounters;

/** Steps of the fatezero preset: the baseline of the report's relative token-steps. */
const FATEZERO_STEPS = 50;

/**
 * Runs one FateZero edit on frames.
 * @throws EngineError('canceled') when the signal fires between steps; EngineError('invalid_request') on bad inputs.
 */
export async function runFateZero(args: FateZeroArgs): Promise<RunEditResult> {
  const { options, model } = args;
  const counters = createCounters();
  const timed = stageTimer(counters);

  // 1. check inputs
  const geometry = checkInputs(args);
  // 2. prompts
  const prompts = await timed('text', () => encodePrompts(model, options));
  // 3. VAE encode
  const z0 = await timed('vaeEncode', () => encodeFrames(model, args.input.frames, geometry));
  // 4. timesteps
  const sampler = createSampler(options.sampler.kind, model.facts.schedulerConfig, options.sampler.steps);
  const inversion = createInversion(sampler, model.facts.schedulerConfig);
  // 'memory' (fatezero): every map of every step in float32, as FateZero keeps them; 'auto': only what editing
  // reads, in float16 [ours]; 'disk': every map straight to files.
  const storeMode = options.fusion.store;
  const store = new AttentionStore({
    memoryBudgetBytes: storeMode === 'disk' ? 0 : args.storeBudgetBytes ?? Infinity,
    spillDir: args.spillDir,
    precision: storeMode === 'auto' ? 'float16' : 'float32',
  });
  if (storeMode === 'disk' && !args.spillDir) throw new EngineError('invalid_request', "fusion.store is 'disk' but no spill folder was given; pass spillDir (editVideoFile uses <outDir>/.attention).");
  const tome = tomeHooks(options, geometry);
  try {
    // 5. invert
    const inverted = await timed('inversion', () => invert({ ...args, geometry, prompts, z0, inversion, store, tome, counters }));
    // 6. edit
    const edited = await timed('edit', () => edit({ ...args, geometry, prompts, sampler, inverted, store, tome, counters }));
    // 7. decode
    const frames = await timed('vaeDecode', () => decodeFrames(model, edited.latent, geometry));
    // 8. report
    const report = buildReport({ args, geometry, prompts, counters, store, edited, tome });
    return {
      frames,
      report,
      latents: { source: z0, inverted: inverted.latents[0], edited: edited.latent, dims: [geometry.frames, geometry.channels, geometry.latentHeight, geometry.latentWidth] },
      latentMask: edited.mask?.dilated,
    };
  } finally {
    store.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. check inputs

function checkInputs(args: FateZeroArgs): Geometry {
  const { input, options, model } = args;
  const F = input.frames.length;
  if (F === 0) throw new EngineError('input_empty', 'No frames to edit: the input has 0 frames.');
  const s = model.facts.vaeScaleFactor;
  // three UNet downsamplings need latent sizes divisible by 8: pixels by 8·s
  const multiple = s * 8;
  if (input.width % multiple !== 0 || input.height % multiple !== 0) {
    throw new EngineError('invalid_request', `Frames are ${input.width}x${input.height}; the working size must be a multiple of ${multiple} pixels (latent multiple of 8). Resize/crop the frames first.`);
  }
  input.frames.forEach((f, i) => {
    if (f.length !== input.width * input.height * 3) throw new EngineError('invalid_request', `Frame ${i} has ${f.length} bytes; expected ${input.width * input.height * 3} (RGB24 ${input.width}x${input.height}).`);
  });
  if (options.ocd.mask === 'video' && options.ocd.sampling && !args.mask) {
    throw new EngineError('invalid_request', "ocd.mask is 'video' but no mask was given; pass a mask video or set ocd.mask to 'auto' or 'none'.");
  }
  if (args.mask && args.mask.length !== F * input.width * input.height) {
    throw new EngineError('mask_mismatch', `The mask has ${args.mask.length} values; expected ${F}x${input.height}x${input.width} (one per frame pixel).`);
  }
  // The request rules the API checks at create time (paired steps, prompts, words, unimplemented knobs), again
  // for callers that come without the API, so that both accept exactly the same requests.
  const problems = checkEditOptions(options);
  if (problems.length > 0) throw new EngineError('invalid_request', describeEditProblems(problems));
  const latentHeight = input.height / s, latentWidth = input.width / s;
  if (options.tome.enabled && !options.tome.paired) {
    // a fused self-attention layer reads the map inversion stored, whose rows follow inversion's merge plan
    const clash = options.tome.ratio.findIndex((r, level) => r > 0 && model.facts.attentionLevels.includes(level)
      && isControlled({ name: '', height: latentHeight >> level, width: latentWidth >> level }));
    if (clash >= 0) {
      throw new EngineError('invalid_request', `tome.paired is false but level ${clash} (${latentHeight >> clash}x${latentWidth >> clash} latent) is both token-merged and fused (query length <= 1024): its stored maps need the merge plans inversion made. Set tome.paired to true, or set tome.ratio[${clash}] to 0.`);
    }
  }
  return {
    frames: F,
    height: input.height,
    width: input.width,
    latentHeight,
    latentWidth,
    channels: model.facts.latentChannels,
    contextChannels: model.facts.contextChannels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 2. prompts

async function encodePrompts(model: EditModel, options: EditOptions): Promise<Prompts> {
  const tok = model.tokenizer;
  const negative = tok.encodeForModel(options.negativePrompt);
  const source = tok.encodeForModel(options.sourcePrompt);
  const target = tok.encodeForModel(options.targetPrompt);
  const embeddings = await model.encodeText([negative.ids, source.ids, target.ids]);
  const D = embeddings.dims[2];
  const row = (i: number) => embeddings.data.slice(i * 77 * D, (i + 1) * 77 * D);
  const sourceWords = tok.words(options.sourcePrompt);
  const targetWords = tok.words(options.targetPrompt);
  const controller = chooseController(options.fusion.controller, sourceWords.words, targetWords.words);
  let mapping: CrossAttentionMapping;
  try {
    mapping = buildCrossAttentionMapping({
      controller,
      sourceIds: tok.encodeUnpadded(options.sourcePrompt),
      targetIds: tok.encodeUnpadded(options.targetPrompt),
      source: sourceWords,
      target: targetWords,
      reweight: options.fusion.reweight,
    });
  } catch (error) {
    throw new EngineError('invalid_request', (error as Error).message, { cause: error });
  }
  const positionsOf = (words: readonly string[]): number[] => {
    try {
      return wordTokenPositions(words, sourceWords);
    } catch (error) {
      throw new EngineError('invalid_request', (error as Error).message, { cause: error });
    }
  };
  const fusionBlendTokens = options.fusion.blendWords ? positionsOf(options.fusion.blendWords.source) : null;
  return {
    negative: row(0),
    source: row(1),
    target: row(2),
    mapping,
    controller,
    fusionBlendTokens,
    saliency: chooseSaliencyWords(sourceWords, targetWords, options.fusion.blendWords?.source),
    truncated: negative.truncated || source.truncated || target.truncated,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// UNet variants

interface VariantHandle {
  runner: UNetRunner;
  /** controlled (fused or recorded) attention sites */
  sites: ControlledSite[];
  /** token-merged self-attention sites */
  tomeSites: TomeSite[];
}

/** What the edit options change in every UNet graph besides its hooks. */
function unetShape(options: EditOptions): Pick<UNetVariant, 'crossFrameMinChannels' | 'groupNorm'> {
  return { crossFrameMinChannels: options.crossFrame.minChannels ?? undefined, groupNorm: options.crossFrame.groupNorm };
}

type VariantShape = Pick<UNetVariant, 'frames' | 'height' | 'width' | 'crossFrameMinChannels' | 'groupNorm'>;

async function unetVariant(model: EditModel, counters: Counters, key: string, geo: VariantShape, makeHooks: (tomeSites: TomeSite[]) => { hooks: AttentionHooks; sites: ControlledSite[] }): Promise<VariantHandle> {
  return countLoad(counters, () => openVariant(model, key, geo, makeHooks));
}

async function openVariant(model: EditModel, key: string, geo: VariantShape, makeHooks: (tomeSites: TomeSite[]) => { hooks: AttentionHooks; sites: ControlledSite[] }): Promise<VariantHandle> {
  let meta = { sites: [] as ControlledSite[], tomeSites: [] as TomeSite[] };
  const variant: UNetVariant = {
    ...geo,
    key,
    hooks: () => {
      const tomeSites: TomeSite[] = [];
      const made = makeHooks(tomeSites);
      meta = { sites: made.sites, tomeSites };
      return made.hooks;
    },
    describe: () => meta,
  };
  const runner = await model.unet(variant);
  const saved = (runner.meta as typeof meta | null) ?? { sites: [], tomeSites: [] };
  return { runner, sites: saved.sites, tomeSites: saved.tomeSites };
}

/** A float output of a run. @throws when absent (the graph lacks it). */
function floatOutput(out: Record<string, Tensor | IntTensor>, name: string): Tensor {
  const t = out[name];
  if (!t || !('data' in t)) throw new EngineError('internal', `The UNet run returned no float output '${name}' (outputs: ${Object.keys(out).join(', ')}).`);
  return t;
}

function repeatRows(row: Float32Array, times: number): Float32Array {
  const out = new Float32Array(row.length * times);
  for (let i = 0; i < times; i++) out.set(row, i * row.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// saliency (object-centric sampling and token merging)

/** Names of the blend-mask layers (FateZero's store positions, see blend-sites.ts). */
function blendNames(sites: readonly ControlledSite[]): Set<string> {
  try {
    return new Set(blendSites(sites).map((s) => s.name));
  } catch (error) {
    throw new EngineError('internal', (error as Error).message, { cause: error });
  }
}

function crossMapsAt(store: AttentionStore, step: number, sites: readonly ControlledSite[], names: ReadonlySet<string>): CrossMap[] {
  return sites
    .filter((s) => names.has(s.name))
    .map((s) => ({ data: store.get(step, s.name).data, frames: s.frames, heads: s.heads, height: s.height, width: s.width, keys: s.keyTokens }));
}

/** Accumulates blend-word attention over inversion steps and turns it into the `auto` saliency mask [ours]. */
class AutoSaliency {
  private sum: Float32Array | null = null;
  private grid = { height: 0, width: 0 };

  constructor(private readonly tokens: readonly number[], private readonly geo: Geometry, private readonly thresholdLevel: number, private readonly dilation: number, private readonly promptTokens: readonly number[] = []) {}

  add(maps: CrossMap[]): void {
    if (this.tokens.length === 0 || maps.length === 0) return;
    const att = wordShareOfPrompt(maps, this.tokens, this.promptTokens);
    this.grid = { height: att.height, width: att.width };
    if (!this.sum) this.sum = new Float32Array(att.data.length);
    for (let i = 0; i < att.data.length; i++) this.sum[i] += att.data[i];
  }

  /** [F, h, w] latent-resolution mask: summed attention shares, nearest upsample, then `attentionSaliency` (ocs.ts). */
  mask(): Float32Array | null {
    if (!this.sum) return null;
    const { frames: F, latentHeight: h, latentWidth: w } = this.geo;
    const up = resizeNearest(this.sum, F, this.grid.height, this.grid.width, h, w);
    return attentionSaliency(up, F, h, w, this.thresholdLevel, this.dilation);
  }
}

/** The mask video at latent resolution, dilated: [F, h, w]. */
function videoSaliency(args: FateZeroArgs, geo: Geometry): Float32Array | null {
  return args.mask ? latentMaskFromVideo(args.mask, geo, args.options.ocd.dilate) : null;
}

/**
 * Whether editing will read the map of this layer at editing step c: self maps while self-attention fusion is
 * active, cross maps while cross-attention fusion is active or (blend maps) while the blend mask is needed.
 * The 'memory' store (fatezero) keeps everything, as FateZero does.
 */
function keepMap(options: EditOptions, site: ControlledSite, c: number, blend: ReadonlySet<string>): boolean {
  if (options.fusion.store !== 'auto') return true;
  const N = options.sampler.steps;
  const selfActive = selfReplaceActive(c, N, options.fusion.selfReplaceSteps);
  if (site.kind === 'self') return selfActive;
  return crossReplaceActive(c, N, options.fusion.crossReplaceSteps) || (selfActive && options.fusion.blendWords !== null && blend.has(site.name));
}

// ---------------------------------------------------------------------------------------------------------------
// 5. inversion

interface Inverted {
  /** latent at editing timestep index c (inversion output of step N-1-c); [N] of [F, C, h, w] */
  latents: Float32Array[];
  sites: ControlledSite[];
  /** saliency accumulated from the blend-word attention of every inversion step */
  autoSaliency: AutoSaliency;
}

async function invert(ctx: FateZeroArgs & { geometry: Geometry; prompts: Prompts; z0: Float32Array; inversion: Inversion; store: AttentionStore; tome: TomeRun; counters: Counters }): Promise<Inverted> {
  const { model, geometry: geo, prompts, inversion, store, tome, counters, options } = ctx;
  const F = geo.frames;
  const handle = await unetVariant(model, counters, `record-f${F}-${geo.latentHeight}x${geo.latentWidth}-${tome.key}`, { ...unetShape(options), frames: F, height: geo.latentHeight, width: geo.latentWidth }, (tomeSites) => {
    const rec = recordingHooks();
    return { hooks: tome.combine(rec.hooks, 'record', tomeSites), sites: rec.sites };
  });
  const chosen = prompts.saliency.basis ? prompts.saliency : null;
  const autoSaliency = new AutoSaliency(chosen?.positions ?? [], geo, options.ocd.maskThreshold, options.ocd.dilate, chosen?.promptPositions);
  // object-centric ToMe: the mask video from the start; `auto` from the attention of the steps so far [ours]
  const useAuto = options.ocd.mask === 'auto' || (options.ocd.mask === 'video' && !ctx.mask);
  tome.setSaliency(options.ocd.mask === 'video' ? videoSaliency(ctx, geo) : null, F, geo.latentHeight, geo.latentWidth);
  const N = inversion.timesteps.length;
  const context = repeatRows(prompts.source, F);
  const latents: Float32Array[] = new Array(N);
  let z = ctx.z0;
  const blend = blendNames(handle.sites);
  const record = async (t: number) => {
    const out = await handle.runner.run({
      sample: { data: z, dims: [F, geo.channels, geo.latentHeight, geo.latentWidth] },
      timestep: { int64: [t], dims: [] },
      encoder_hidden_states: { data: context, dims: [F, 77, geo.contextChannels] },
      ...tome.feeds(t, 'record', F, 1, handle.tomeSites),
    });
    counters.unetCalls++;
    counters.tokenSteps += F * geo.latentHeight * geo.latentWidth;
    counters.peakRss = Math.max(counters.peakRss, process.memoryUsage().rss);
    return out;
  };
  const blendWordMaps = (out: Record<string, Tensor | IntTensor>): CrossMap[] => handle.sites.filter((s) => blend.has(s.name)).map((s) => {
    const d = floatOutput(out, recordedOutputName(s)).data;
    return { data: d, frames: s.frames, heads: s.heads, height: s.height, width: s.width, keys: s.keyTokens };
  });
  // Object-centric merging with the `auto` mask: the first inversion step's plan pairs with the last editing step,
  // so the saliency must exist before it. A probe call at the first timestep records the blend-word attention
  // (its plan and maps are discarded) [ours].
  const probeSaliency = useAuto && tome.enabled && options.tome.objectCentric && prompts.saliency.basis !== null && N > 0;
  if (probeSaliency) {
    autoSaliency.add(blendWordMaps(await record(inversion.timesteps[0])));
    tome.setSaliency(autoSaliency.mask(), F, geo.latentHeight, geo.latentWidth);
  }
  for (let j = 0; j < N; j++) {
    throwIfCanceled(ctx.signal, 'inversion');
    const t = inversion.timesteps[j];
    const c = N - 1 - j;
    const out = await record(t);
    for (const site of handle.sites) {
      if (!keepMap(options, site, c, blend)) continue;
      const recorded = floatOutput(out, recordedOutputName(site));
      store.put(c, site.name, { dims: recorded.dims, data: recorded.data });
    }
    tome.collect(t, out, handle.tomeSites);
    // step 0's attention is the probe's when a probe ran (the same timestep and latent)
    if (!(probeSaliency && j === 0)) autoSaliency.add(blendWordMaps(out));
    if (useAuto) tome.setSaliency(autoSaliency.mask(), F, geo.latentHeight, geo.latentWidth);
    z = inversion.step(floatOutput(out, 'out_sample').data, j, z);
    latents[c] = z;
    ctx.onProgress?.({ stage: 'inversion', step: j + 1, steps: N });
  }
  return { latents, sites: handle.sites, autoSaliency };
}

// ---------------------------------------------------------------------------------------------------------------
// 6. editing

interface Edited {
  latent: Float32Array;
  mask?: { dilated: Float32Array; area: number; box: Box | null; source: MaskSource; words: string[] };
  ranAs: EditOptions['preset'];
  note?: string;
  mergedLayers: number;
}

interface EditContext extends FateZeroArgs {
  geometry: Geometry;
  prompts: Prompts;
  sampler: EditingSampler;
  inverted: Inverted;
  store: AttentionStore;
  tome: TomeRun;
  counters: Counters;
}

/** Full-resolution blend mask per level for one step: [F, h_l * w_l] (0 = full replacement by the source map). */
function blendMasksAt(ctx: EditContext, step: number): Map<number, Float32Array> {
  const { prompts, options, geometry: geo } = ctx;
  const levels = [...new Set(ctx.inverted.sites.filter((s) => s.kind === 'self').map((s) => s.level))];
  const selfActive = selfReplaceActive(step, options.sampler.steps, options.fusion.selfReplaceSteps);
  // the blend mask only matters while self-attention fusion is active
  const useBlend = prompts.fusionBlendTokens !== null && selfActive;
  const maps = useBlend ? crossMapsAt(ctx.store, step, ctx.inverted.sites, blendNames(ctx.inverted.sites)) : [];
  const out = new Map<number, Float32Array>();
  for (const l of levels) {
    const h = geo.latentHeight >> l, w = geo.latentWidth >> l;
    out.set(l, useBlend ? blendMask(maps, prompts.fusionBlendTokens as number[], h, w, options.fusion.blendThreshold) : new Float32Array(geo.frames * h * w));
  }
  return out;
}

const zeroMaps = new Map<string, Float32Array>();

/** An all-zero stand-in for a map editing does not read at this step (its gate is closed). */
function zeroMap(site: ControlledSite): { dims: number[]; data: Float32Array } {
  const dims = [site.frames, site.heads, site.queryTokens, site.keyTokens];
  const key = dims.join('x');
  let data = zeroMaps.get(key);
  if (!data) {
    data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    zeroMaps.set(key, data);
  }
  return { dims, data };
}

/** Per-step fusion feeds of a graph: gates, the mapping, stored maps and blend masks (restricted to a crop box). */
function fusionFeeds(ctx: EditContext, handle: VariantHandle, step: number, groups: number, box: Box | null): Record<string, Tensor> {
  const { options, prompts, geometry: geo, store } = ctx;
  const F = geo.frames;
  const N = options.sampler.steps;
  const t = ctx.sampler.timesteps[step];
  const cond = new Float32Array(groups);
  cond[groups - 1] = 1;
  const feeds: Record<string, Tensor> = {
    [FUSION_INPUTS.condGate]: { data: cond, dims: [groups, 1, 1, 1, 1] },
    [FUSION_INPUTS.crossGate]: { data: Float32Array.of(crossReplaceActive(step, N, options.fusion.crossReplaceSteps) ? 1 : 0), dims: [1] },
    [FUSION_INPUTS.selfGate]: { data: Float32Array.of(selfReplaceActive(step, N, options.fusion.selfReplaceSteps) ? 1 : 0), dims: [1] },
    [FUSION_INPUTS.mapping]: { data: prompts.mapping.matrix, dims: [77, 77] },
    [FUSION_INPUTS.alpha]: { data: prompts.mapping.alpha, dims: [77] },
    [FUSION_INPUTS.weights]: { data: prompts.mapping.weights, dims: [77] },
  };
  const masks = blendMasksAt(ctx, step);
  for (const site of handle.sites) {
    const full = ctx.inverted.sites.find((s) => s.name === site.name);
    if (!full) throw new EngineError('internal', `Editing graph layer ${site.name} was not recorded during inversion.`);
    const stored = store.has(step, site.name) ? store.get(step, site.name) : zeroMap(full); // not read: its gate is 0
    const tokens = full.height * full.width;
    // a merged layer's maps are laid out by its paired plan (per frame or over the clip)
    const layout = full.kind === 'self' ? ctx.tome.mapLayout(t, site.name) : null;
    if (!box) {
      feeds[sourceInputName(site)] = { data: stored.data, dims: stored.dims };
      if (site.kind === 'self') {
        const mask = masks.get(site.level) as Float32Array;
        const data = layout ? valuesPerMapRow(mask, F, tokens, layout) : mask;
        feeds[blendInputName(site)] = { data, dims: [site.frames, 1, site.queryTokens, 1] };
      }
      continue;
    }
    const b = boxAtLevel(box, site.level);
    const inBox = b.height * b.width;
    if (site.kind === 'cross') {
      feeds[sourceInputName(site)] = { data: restrictMap(stored.data, F, full.heads, full.width, full.keyTokens, b, null), dims: [F, full.heads, inBox, full.keyTokens] };
      continue;
    }
    feeds[sourceInputName(site)] = {
      data: layout
        ? restrictMergedMap(stored.data, F, full.heads, full.keyTokens, b, full.width, layout)
        : restrictMapVia(stored.data, F, full.heads, full.queryTokens, full.keyTokens, b, full.width, () => null, () => null),
      dims: [F, full.heads, inBox, inBox],
    };
    const mask = masks.get(site.level) as Float32Array;
    feeds[blendInputName(site)] = { data: restrictMap(mask, F, 1, full.width, 1, b, null), dims: [F, 1, inBox, 1] };
  }
  return feeds;
}

const guidedContexts = new WeakMap<Prompts, Float32Array>();

/** [negative x F, target x F] text states of the guided batch, built once per run. */
function guidedContext(prompts: Prompts, frames: number): Float32Array {
  let context = guidedContexts.get(prompts);
  if (!context) {
    const row = prompts.negative.length;
    context = new Float32Array(2 * frames * row);
    for (let f = 0; f < frames; f++) {
      context.set(prompts.negative, f * row);
      context.set(prompts.target, (frames + f) * row);
    }
    guidedContexts.set(prompts, context);
  }
  return context;
}

/** Runs the guided edit UNet once on a (possibly cropped) latent. */
async function guidedStep(ctx: EditContext, handle: VariantHandle, step: number, z: Float32Array, grid: { height: number; width: number }, box: Box | null): Promise<Float32Array> {
  const { geometry: geo, prompts, options, tome } = ctx;
  const F = geo.frames;
  const t = ctx.sampler.timesteps[step];
  const feeds: Record<string, Tensor | IntTensor> = {
    sample: { data: repeatRows(z, 2), dims: [2 * F, geo.channels, grid.height, grid.width] },
    timestep: { int64: [t], dims: [] },
    encoder_hidden_states: { data: guidedContext(prompts, F), dims: [2 * F, 77, geo.contextChannels] },
    ...fusionFeeds(ctx, handle, step, 2, box),
    ...tome.feeds(t, 'edit', F, 2, handle.tomeSites),
  };
  const out = await handle.runner.run(feeds);
  ctx.counters.unetCalls++;
  ctx.counters.tokenSteps += 2 * F * grid.height * grid.width;
  ctx.counters.peakRss = Math.max(ctx.counters.peakRss, process.memoryUsage().rss);
  return classifierFreeGuidance(floatOutput(out, 'out_sample').data, options.sampler.guidance);
}

/** Saliency mask at latent resolution, dilated; null when OCD has no mask source. */
function saliencyMask(ctx: EditContext): { mask: Float32Array; source: MaskSource; words: string[] } | null {
  const mode = ctx.options.ocd.mask;
  if (mode === 'video') {
    const mask = videoSaliency(ctx, ctx.geometry);
    return mask ? { mask, source: 'video', words: [] } : null;
  }
  const chosen = ctx.prompts.saliency;
  if (mode === 'auto' && chosen.basis) {
    const mask = ctx.inverted.autoSaliency.mask();
    return mask ? { mask, source: chosen.basis, words: chosen.words } : null;
  }
  return null;
}

async function edit(ctx: EditContext): Promise<Edited> {
  const { model, geometry: geo, options, sampler, inverted, tome } = ctx;
  const F = geo.frames, C = geo.channels, h = geo.latentHeight, w = geo.latentWidth;
  const N = sampler.timesteps.length;
  const fullGrid = { height: h, width: w };
  const fullHandle = await unetVariant(model, ctx.counters, `edit-f${F}-${h}x${w}-${tome.key}`, { ...unetShape(options), frames: F, height: h, width: w }, (tomeSites) => {
    const fused = fusionHooks();
    return { hooks: tome.combine(fused.hooks, 'edit', tomeSites), sites: fused.sites };
  });
  let z = inverted.latents[0];
  let start = 0;
  const progress = (step: number) => ctx.onProgress?.({ stage: 'edit', step, steps: N });
  let ranAs: Edited['ranAs'] = options.preset;
  let note: string | undefined;
  let maskInfo: Edited['mask'];

  // object-centric sampling: decoupled foreground/background phase, then the joint phase
  if (options.ocd.sampling) {
    const saliency = saliencyMask(ctx);
    const { decoupledSteps: K, backgroundSteps } = decoupledSchedule(N, options.ocd.gamma, options.ocd.phi);
    if (!saliency) {
      ranAs = 'optimized';
      note = noMaskNote(options.ocd.mask, ctx.prompts.saliency);
    } else {
      const box = foregroundBox(saliency.mask, F, h, w, 0);
      maskInfo = { dilated: saliency.mask, area: maskArea(saliency.mask), box, source: saliency.source, words: saliency.words };
      if (!box) {
        ranAs = 'optimized';
        note = emptyMaskNote(saliency.source);
      } else if (K > 0) {
        const full = isFullFrame(box, h, w);
        // foreground: every decoupled step on the crop (the full frame when the box covers it)
        let zFg = full ? z : cropLatent(z, F, C, h, w, box);
        const fgHandle = full ? fullHandle : await unetVariant(model, ctx.counters, `crop-f${F}-${box.height}x${box.width}`, { ...unetShape(options), frames: F, height: box.height, width: box.width }, () => fusionHooks({ only: new Set(inverted.sites.map((s) => s.name)) }));
        const fgGrid = full ? fullGrid : { height: box.height, width: box.width };
        for (let c = 0; c < K; c++) {
          throwIfCanceled(ctx.signal, 'editing');
          const eps = await guidedStep(ctx, fgHandle, c, zFg, fgGrid, full ? null : box);
          zFg = sampler.step(eps, c, zFg);
          progress(c + 1);
        }
        if (full) {
          z = zFg; // one trajectory: the blend is the identity and the solver history stays valid
        } else {
          const zBg = options.ocd.background === 'inversion'
            ? inverted.latents[K]
            : await coarseBackground({
              sampler, schedulerConfig: model.facts.schedulerConfig, backgroundSteps, decoupledSteps: K, latent: z, signal: ctx.signal,
              eps: (c, zc) => guidedStep(ctx, fullHandle, c, zc, fullGrid, null),
            });
          z = joinForeground(zBg, zFg, saliency.mask, box, [F, C, h, w], sampler);
        }
        start = K;
      }
    }
  }
  // joint (or plain) phase: full-frame fused editing
  for (let c = start; c < N; c++) {
    throwIfCanceled(ctx.signal, 'editing');
    const eps = await guidedStep(ctx, fullHandle, c, z, fullGrid, null);
    z = sampler.step(eps, c, z);
    progress(c + 1);
  }
  return { latent: z, mask: maskInfo, ranAs, note, mergedLayers: fullHandle.tomeSites.length };
}

// ---------------------------------------------------------------------------------------------------------------
// 8. report

function buildReport(r: { args: FateZeroArgs; geometry: Geometry; prompts: Prompts; counters: Counters; store: AttentionStore; edited: Edited; tome: TomeRun }): EditReport {
  const { args, geometry: geo, counters, store, edited } = r;
  // The fatezero preset's cost at the same frames and size: 50 inversion calls of F and 50 edit calls of 2F.
  const baselineTokenSteps = 3 * FATEZERO_STEPS * geo.frames * geo.latentHeight * geo.latentWidth;
  const stats = store.stats();
  return {
    preset: args.options.preset,
    ranAs: edited.ranAs,
    note: edited.note,
    options: args.options,
    seed: args.options.seed,
    model: { identity: args.model.facts.identity, provider: args.model.facts.provider },
    frames: geo.frames,
    size: { width: geo.width, height: geo.height, latentWidth: geo.latentWidth, latentHeight: geo.latentHeight },
    controller: r.prompts.controller,
    promptTruncated: r.prompts.truncated,
    stages: { ...args.timings, ...counters.stageSeconds } as StageTimes,
    unetCalls: counters.unetCalls,
    tokenSteps: counters.tokenSteps,
    tokenStepsRelative: counters.tokenSteps / baselineTokenSteps,
    attentionStore: { bytes: stats.totalBytes, memoryBytes: stats.peakMemoryBytes, diskBytes: stats.diskBytes, entries: stats.entries },
    peakRssBytes: counters.peakRss,
    mask: edited.mask ? { areaFraction: edited.mask.area, box: edited.mask.box, source: edited.mask.source, words: edited.mask.words } : null,
    tome: r.tome.enabled ? { mergedLayers: edited.mergedLayers, importedPlans: r.tome.importedPlans, levels: r.tome.counts() } : null,
  };
}
