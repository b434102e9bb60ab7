/**
 * The ControlVideo editor (method.md §6b): generation from ControlVideo's same-frame noise, guided by the target
 * prompt (plus its positive suffix) and by a ControlNet fed the clip's control maps, with fully cross-frame
 * attention in every self-attention of the UNet and the ControlNet. On top of it, the OCD options of the shared
 * stage modules: token merging across time and space (tome/), object-centric sampling with the coarse background
 * (ocs.ts, sampling.ts), and for long clips ControlVideo's hierarchical sampler (hierarchy.ts).
 *
 * Stages: check inputs, prompts, control maps, (mask), sample, VAE decode, report. Composed from an injected
 * `EditModel` with a ControlNet; no paths, no env.
 */
import { checkEditOptions, describeEditProblems, type EditOptions } from '../../../shared/edit-request.ts';
import { NO_HOOKS } from '../../models/unet/hooks.ts';
import { EngineError, throwIfCanceled } from '../errors.ts';
import type { ControlNetPart, EditModel, Tensor, UNetRunner, UNetVariant } from '../model.ts';
import { type Box, cropLatent, decoupledSchedule, foregroundBox, isFullFrame, latentMaskFromVideo, maskArea } from '../ocs.ts';
import type { EditProgress, FrameSet, RunEditResult } from '../stages/run-types.ts';
import { emptyMaskNote, type EditReport, type MaskSource, noMaskNote, type StageTimes } from '../report.ts';
import { chooseSaliencyWords, type SaliencyWords } from '../saliency-words.ts';
import { createSampler, type EditingSampler } from '../sampling.ts';
import { countCall, countLoad, createCounters, type RunCounters, stageTimer } from '../stages/counters.ts';
import { coarseBackground, joinForeground } from '../stages/decoupled.ts';
import { decodeFrames, type LatentGeometry } from '../stages/frames.ts';
import { tomeHooks, type TomeRun, type TomeSite } from '../tome/hooks.ts';
import { controlTensor, cropControl, pickFrames, putFrames } from './control-maps.ts';
import { crossMapHooks, objectMask, type RecordedCrossSite } from './cross-maps.ts';
import { CONTROLVIDEO_DEFAULTS } from './defaults.ts';
import { controlledNoise, doubledTensor } from './denoise.ts';
import { hierarchyPlan, samplingWindow } from './hierarchy.ts';
import { sameNoiseForEveryFrame } from './noise.ts';

export interface RunControlVideoArgs {
  /** The clip's frames at the working size (the preview's input panel; canny maps are computed from them). */
  readonly input: FrameSet;
  /** RGB24 control maps, one per frame at the working size (canny edges or a decoded control video). */
  readonly control: FrameSet;
  /** [F, H, W] in [0, 1] at the frames' size (white = object), for `ocd.mask = 'video'`. */
  readonly mask?: Float32Array;
  readonly options: EditOptions;
  readonly model: EditModel;
  readonly onProgress?: (p: EditProgress) => void;
  readonly signal?: AbortSignal;
  /** Frames per hierarchical-sampler window. @default samplingWindow(frames): one pass up to 16 frames */
  readonly window?: number;
  /** Query rows per attention chunk of ControlVideo's graphs; 'model' keeps the load option's. @default CONTROLVIDEO_DEFAULTS.attentionQueryChunk */
  readonly attentionQueryChunk?: number | 'model';
}

interface Geometry extends LatentGeometry {
  contextChannels: number;
  /** control map pixels per latent pixel */
  controlScale: number;
}

/** A UNet and its ControlNet built for one frame count, grid and attention layout. */
interface GraphPair {
  unet: UNetRunner;
  controlnet: UNetRunner;
  unetTome: TomeSite[];
  controlnetTome: TomeSite[];
  /** cross-attention sites the UNet records (probe graphs only) */
  recorded: RecordedCrossSite[];
}

interface Run {
  args: RunControlVideoArgs;
  geo: Geometry;
  controlnet: ControlNetPart;
  tome: TomeRun;
  counters: RunCounters;
  /** [negative x F, target + suffix x F] for a group of F frames */
  context: (frames: number) => Tensor;
  /** control maps [F, 3, H·s, W·s] of the whole clip */
  control: Tensor;
  /** query rows per attention chunk of the graphs; undefined: the model's load option */
  queryChunk: number | undefined;
}

/**
 * Runs one ControlVideo edit on frames.
 * @throws EngineError `controlnet_missing` when the model was loaded without a ControlNet; `invalid_request` on bad
 *   inputs or knobs; `canceled` when the signal fires between steps.
 */
export async function runControlVideo(args: RunControlVideoArgs): Promise<RunEditResult> {
  const { model, options } = args;
  const counters = createCounters();
  const timed = stageTimer(counters);

  const { geo, controlnet } = checkInputs(args);
  const prompts = await timed('text', () => encodePrompts(model, options));
  const control = controlTensor(args.control.frames, args.control.width, args.control.height, geo.latentWidth * geo.controlScale, geo.latentHeight * geo.controlScale);
  const contexts = new Map<number, Tensor>();
  const run: Run = {
    args, geo, controlnet, counters, control,
    queryChunk: args.attentionQueryChunk === 'model' ? undefined : args.attentionQueryChunk ?? CONTROLVIDEO_DEFAULTS.attentionQueryChunk,
    tome: tomeHooks(options, geo),
    context: (frames) => {
      let context = contexts.get(frames);
      if (!context) {
        context = guidedContext(prompts.negative, prompts.positive, frames);
        contexts.set(frames, context);
      }
      return context;
    },
  };
  const window = args.window ?? samplingWindow(geo.frames);
  const plan = hierarchyPlan(geo.frames, window);
  const sampled = await timed('edit', () => (plan.runs.length === 0 ? sampleOnePass(run, prompts.saliency) : sampleHierarchy(run, plan)));
  const frames = await timed('vaeDecode', () => decodeFrames(model, sampled.latent, geo));
  return {
    frames,
    report: buildReport(run, sampled, prompts.truncated),
    latents: { source: new Float32Array(0), inverted: sampled.initial, edited: sampled.latent, dims: [geo.frames, geo.channels, geo.latentHeight, geo.latentWidth] },
    latentMask: sampled.mask?.dilated,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// inputs and prompts

function checkInputs(args: RunControlVideoArgs): { geo: Geometry; controlnet: ControlNetPart } {
  const { input, control, options, model } = args;
  if (options.editor !== 'controlvideo') throw new EngineError('internal', `runControlVideo got options for the '${options.editor}' editor.`);
  const problems = checkEditOptions(options);
  if (problems.length > 0) throw new EngineError('invalid_request', describeEditProblems(problems));
  const controlnet = model.controlnet;
  if (!controlnet) {
    throw new EngineError('controlnet_missing', "The 'controlvideo' editor needs a ControlNet, and none was loaded with the model; configure a ControlNet folder (OCD_CONTROLNET_DIR, or --controlnet <dir> on the CLI).");
  }
  const F = input.frames.length;
  if (F === 0) throw new EngineError('input_empty', 'No frames to edit: the input has 0 frames.');
  const s = model.facts.vaeScaleFactor;
  const multiple = s * 8;
  if (input.width % multiple !== 0 || input.height % multiple !== 0) {
    throw new EngineError('invalid_request', `Frames are ${input.width}x${input.height}; the working size must be a multiple of ${multiple} pixels (latent multiple of 8). Resize/crop the frames first.`);
  }
  if (control.frames.length !== F) throw new EngineError('control_frame_count', `There are ${control.frames.length} control maps for ${F} frames; give one per frame.`);
  if (control.width !== input.width || control.height !== input.height) {
    throw new EngineError('control_size', `The control maps are ${control.width}x${control.height} but the frames are ${input.width}x${input.height}.`);
  }
  if (args.mask && args.mask.length !== F * input.width * input.height) {
    throw new EngineError('mask_mismatch', `The mask has ${args.mask.length} values; expected ${F}x${input.height}x${input.width} (one per frame pixel).`);
  }
  if (options.ocd.sampling && options.ocd.mask === 'video' && !args.mask) {
    throw new EngineError('invalid_request', "ocd.mask is 'video' but no mask was given; pass a mask video or set ocd.mask to 'auto' or 'none'.");
  }
  const geo: Geometry = {
    frames: F, height: input.height, width: input.width, latentHeight: input.height / s, latentWidth: input.width / s,
    channels: model.facts.latentChannels, contextChannels: model.facts.contextChannels, controlScale: controlnet.facts.conditioningScaleFactor,
  };
  return { geo, controlnet };
}

interface Prompts {
  negative: Float32Array;
  positive: Float32Array;
  /** the object words of the target prompt (the `auto` mask's) */
  saliency: SaliencyWords;
  truncated: boolean;
}

/** ControlVideo's prompts: the target prompt with its positive suffix, and the negative prompt. */
async function encodePrompts(model: EditModel, options: EditOptions): Promise<Prompts> {
  const tok = model.tokenizer;
  const negative = tok.encodeForModel(options.negativePrompt);
  const positive = tok.encodeForModel(options.targetPrompt + CONTROLVIDEO_DEFAULTS.positiveSuffix);
  const target = tok.encodeForModel(options.targetPrompt);
  const embeddings = await model.encodeText([negative.ids, positive.ids]);
  const row = embeddings.data.length / 2;
  // The object words are the target's: what the generated clip shows. The suffix comes after them, so their token
  // positions are the same in the suffixed prompt. Roles swapped: the target's words that the source lacks.
  const saliency = chooseSaliencyWords(tok.words(options.targetPrompt), tok.words(options.sourcePrompt), options.fusion.blendWords?.target);
  return { negative: embeddings.data.slice(0, row), positive: embeddings.data.slice(row), saliency, truncated: negative.truncated || target.truncated };
}

/** [negative x F, positive x F]: the text states of a guided batch of F frames. */
function guidedContext(negative: Float32Array, positive: Float32Array, frames: number): Tensor {
  const row = negative.length;
  const data = new Float32Array(2 * frames * row);
  for (let f = 0; f < frames; f++) {
    data.set(negative, f * row);
    data.set(positive, (frames + f) * row);
  }
  return { data, dims: [2 * frames, 77, row / 77] };
}

// ---------------------------------------------------------------------------------------------------------------
// graphs

interface PairShape {
  frames: number;
  height: number;
  width: number;
  /** keys from the first two frames of the group (the hierarchical sampler's in-between runs) */
  keyPair?: boolean;
  /** token merging in both graphs */
  merged?: boolean;
  /** record the UNet's cross-attention at this level (the `auto` mask's probe) */
  probeLevel?: number;
}

/** Opens (building on first use) the UNet and ControlNet graphs of one shape. */
function graphPair(run: Run, shape: PairShape): Promise<GraphPair> {
  return countLoad(run.counters, async () => {
    const { options, model } = run.args;
    const tomeKey = shape.merged ? run.tome.key : 'off';
    const key = `cv-f${shape.frames}-${shape.height}x${shape.width}-${tomeKey}${shape.keyPair ? '-keypair' : ''}${shape.probeLevel !== undefined ? `-probe${shape.probeLevel}` : ''}`;
    const base: Omit<UNetVariant, 'key' | 'hooks' | 'describe'> = {
      frames: shape.frames, height: shape.height, width: shape.width, fullCrossFrame: true,
      keyFrames: shape.keyPair ? 2 : undefined,
      // every self-attention spans the frames, so clip-scope merging applies at every level
      crossFrameMinChannels: 1, groupNorm: options.crossFrame.groupNorm,
      attentionQueryChunk: run.queryChunk,
    };
    const described = <T>(build: (sites: T) => ReturnType<NonNullable<UNetVariant['hooks']>>, empty: () => T) => {
      let sites = empty();
      return {
        hooks: () => {
          sites = empty();
          return build(sites);
        },
        describe: () => sites,
      };
    };
    const unetHooks = described<{ tome: TomeSite[]; recorded: RecordedCrossSite[] }>((sites) => {
      const recording = shape.probeLevel !== undefined ? crossMapHooks(shape.probeLevel, sites.recorded) : NO_HOOKS;
      return shape.merged ? run.tome.combine(recording, 'edit', sites.tome) : recording;
    }, () => ({ tome: [], recorded: [] }));
    const controlHooks = described<{ tome: TomeSite[] }>((sites) => (shape.merged ? run.tome.combine(NO_HOOKS, 'edit', sites.tome) : NO_HOOKS), () => ({ tome: [] }));
    const unet = await model.unet({ ...base, key: `${key}-unet`, controlResiduals: true, ...unetHooks });
    const controlnet = await run.controlnet.graph({ ...base, key: `${key}-controlnet`, ...controlHooks });
    const unetMeta = (unet.meta as { tome: TomeSite[]; recorded: RecordedCrossSite[] } | null) ?? { tome: [], recorded: [] };
    const controlMeta = (controlnet.meta as { tome: TomeSite[] } | null) ?? { tome: [] };
    return { unet, controlnet, unetTome: unetMeta.tome, controlnetTome: controlMeta.tome, recorded: unetMeta.recorded };
  });
}

/** One guided step of a group of frames: ControlNet + UNet on [uncond, cond], guidance. */
async function guidedStep(run: Run, pair: GraphPair, z: Float32Array, grid: { frames: number; height: number; width: number }, control: Tensor, timestep: number) {
  const F = grid.frames;
  const { options } = run.args;
  const result = await controlledNoise({
    unet: pair.unet,
    controlnet: { runner: pair.controlnet, outputNames: run.controlnet.facts.outputNames, inputNames: run.controlnet.facts.unetInputName },
    context: run.context(F),
    conditioning: doubledTensor(control),
    latents: { data: z, dims: [F, run.geo.channels, grid.height, grid.width] },
    timestep,
    guidance: options.sampler.guidance,
    conditioningScale: options.conditioningScale,
    unetFeeds: run.tome.feeds(timestep, 'edit', F, 2, pair.unetTome),
    controlnetFeeds: run.tome.feeds(timestep, 'edit', F, 2, pair.controlnetTome),
  });
  countCall(run.counters, 2 * F, grid.height, grid.width);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// sampling

interface Sampled {
  /** the initial noise [F, C, h, w] */
  initial: Float32Array;
  latent: Float32Array;
  ranAs: EditOptions['preset'];
  note?: string;
  mask?: { dilated: Float32Array; area: number; box: Box | null; source: MaskSource; words: string[] };
  mergedLayers: number;
}

function initialNoise(run: Run): Float32Array {
  const { geo } = run;
  return sameNoiseForEveryFrame(run.args.options.seed, geo.frames, [geo.channels, geo.latentHeight, geo.latentWidth]);
}

/** The preset that ran when object-centric sampling could not (no mask, or an empty one). */
function withoutSampling(preset: EditOptions['preset']): EditOptions['preset'] {
  return preset === 'controlvideo-ocd' ? 'controlvideo-optimized' : preset;
}


/**
 * The `auto` mask: one probe call at the first timestep records the object words' cross-attention (its noise
 * prediction is discarded: object-centric merging, which the mask feeds, was not yet in force).
 */
async function autoMask(run: Run, saliency: SaliencyWords, z: Float32Array, timestep: number): Promise<Float32Array | null> {
  if (saliency.basis === null) return null;
  const { geo, args } = run;
  const level = Math.max(...args.model.facts.attentionLevels);
  const grid = { frames: geo.frames, height: geo.latentHeight, width: geo.latentWidth };
  // merged like the run itself (cross-attention reads unmerged tokens), so the probe costs one merged call
  const probe = await graphPair(run, { ...grid, probeLevel: level, merged: run.tome.enabled });
  const { outputs } = await guidedStep(run, probe, z, grid, run.control, timestep);
  return objectMask(outputs, probe.recorded, saliency.positions, grid, args.options.ocd.maskThreshold, args.options.ocd.dilate);
}

/**
 * Every frame in one pass of fully cross-frame attention, optionally with object-centric sampling: the object's
 * crop runs every decoupled step, the background the coarse sampler's few, then the joint steps on the whole frame.
 */
async function sampleOnePass(run: Run, saliency: SaliencyWords): Promise<Sampled> {
  const { args, geo, tome } = run;
  const { options } = args;
  const F = geo.frames, C = geo.channels, h = geo.latentHeight, w = geo.latentWidth;
  const grid = { frames: F, height: h, width: w };
  const sampler = createSampler(options.sampler.kind, args.model.facts.schedulerConfig, options.sampler.steps);
  const N = sampler.timesteps.length;
  const initial = initialNoise(run);
  let z = initial;
  let ranAs = options.preset;
  let note: string | undefined;
  let maskInfo: Sampled['mask'];

  // the object mask: from the mask video, or the probe's attention; object-centric merging reads it too
  const wantsMask = options.ocd.mask !== 'none' && (options.ocd.sampling || (tome.enabled && options.tome.objectCentric));
  let mask: { data: Float32Array; source: MaskSource; words: string[] } | null = null;
  if (wantsMask && options.ocd.mask === 'video') {
    const data = run.args.mask ? latentMaskFromVideo(run.args.mask, geo, options.ocd.dilate) : null;
    mask = data && { data, source: 'video', words: [] };
  } else if (wantsMask && options.ocd.mask === 'auto') {
    const data = await autoMask(run, saliency, z, sampler.timesteps[0]);
    mask = data && saliency.basis ? { data, source: saliency.basis, words: saliency.words } : null;
  }
  if (mask) tome.setSaliency(mask.data, F, h, w);
  const full = await graphPair(run, { ...grid, merged: tome.enabled });
  const progress = (step: number) => args.onProgress?.({ stage: 'edit', step, steps: N });

  let start = 0;
  if (options.ocd.sampling) {
    const { decoupledSteps: K, backgroundSteps } = decoupledSchedule(N, options.ocd.gamma, options.ocd.phi);
    const box = mask ? foregroundBox(mask.data, F, h, w, 0) : null;
    if (mask) maskInfo = { dilated: mask.data, area: maskArea(mask.data), box, source: mask.source, words: mask.words };
    if (!mask) {
      ranAs = withoutSampling(options.preset);
      note = noMaskNote(options.ocd.mask, saliency, ranAs);
    } else if (!box) {
      ranAs = withoutSampling(options.preset);
      note = emptyMaskNote(mask.source, ranAs);
    } else if (K > 0 && !isFullFrame(box, h, w)) {
      // foreground: every decoupled step on the crop (its own graphs, unmerged: merging plans are per full grid)
      const cropGrid = { frames: F, height: box.height, width: box.width };
      const crop = await graphPair(run, cropGrid);
      const cropControlMaps = cropControl(run.control, box, geo.controlScale);
      let zFg = cropLatent(z, F, C, h, w, box);
      for (let c = 0; c < K; c++) {
        throwIfCanceled(args.signal, 'editing');
        const { eps } = await guidedStep(run, crop, zFg, cropGrid, cropControlMaps, sampler.timesteps[c]);
        zFg = sampler.step(eps, c, zFg);
        progress(c + 1);
      }
      // background: the coarse sampler's few steps on the whole frame (no inversion to take it from)
      const zBg = await coarseBackground({
        sampler, schedulerConfig: args.model.facts.schedulerConfig, backgroundSteps, decoupledSteps: K, latent: z, signal: args.signal,
        eps: async (c, zc) => (await guidedStep(run, full, zc, grid, run.control, sampler.timesteps[c])).eps,
      });
      z = joinForeground(zBg, zFg, mask.data, box, [F, C, h, w], sampler);
      start = K;
    }
  }
  for (let c = start; c < N; c++) {
    throwIfCanceled(args.signal, 'editing');
    const { eps } = await guidedStep(run, full, z, grid, run.control, sampler.timesteps[c]);
    z = sampler.step(eps, c, z);
    progress(c + 1);
  }
  return { initial, latent: z, ranAs, note, mask: maskInfo, mergedLayers: full.unetTome.length + full.controlnetTome.length };
}

/** Runs a group's whole trajectory, returning the latents at the start of every step and the last. */
async function trajectory(run: Run, pair: GraphPair, z0: Float32Array, grid: { frames: number; height: number; width: number }, control: Tensor, stage: (step: number) => void): Promise<{ starts: Float32Array[]; latent: Float32Array }> {
  const { args } = run;
  const sampler: EditingSampler = createSampler(args.options.sampler.kind, args.model.facts.schedulerConfig, args.options.sampler.steps);
  const starts: Float32Array[] = [];
  let z = z0;
  for (let c = 0; c < sampler.timesteps.length; c++) {
    throwIfCanceled(args.signal, 'editing');
    starts.push(z);
    const { eps } = await guidedStep(run, pair, z, grid, control, sampler.timesteps[c]);
    z = sampler.step(eps, c, z);
    stage(c + 1);
  }
  return { starts, latent: z };
}

/**
 * ControlVideo's hierarchical sampler. The key frames' trajectory does not depend on the in-between frames, so it
 * runs first, keeping its latents at the start of each step; each in-between run then steps with its two key frames'
 * latents of the same step in front of it (their predictions discarded), exactly as the interleaved loop of
 * `generate_long_video` (which keys the runs to the first and the last frame of their batch; we key them to the two
 * key frames, as the paper says). Token merging applies to the key-frame pass only; object-centric sampling is not
 * combined with it (the run reports the preset without sampling).
 */
async function sampleHierarchy(run: Run, plan: ReturnType<typeof hierarchyPlan>): Promise<Sampled> {
  const { args, geo, tome } = run;
  const { options } = args;
  const h = geo.latentHeight, w = geo.latentWidth;
  const per = geo.channels * h * w;
  const initial = initialNoise(run);
  const latent = new Float32Array(initial.length);
  const N = options.sampler.steps;
  const passes = 1 + plan.runs.length;
  let pass = 0;
  const progress = (step: number) => args.onProgress?.({ stage: 'edit', step: pass * N + step, steps: passes * N });

  const keyGrid = { frames: plan.keyFrames.length, height: h, width: w };
  const keyPair = await graphPair(run, { ...keyGrid, merged: tome.enabled });
  const keys = await trajectory(run, keyPair, pickFrames({ data: initial, dims: [geo.frames, geo.channels, h, w] }, plan.keyFrames).data, keyGrid, pickFrames(run.control, plan.keyFrames), progress);
  putFrames(latent, keys.latent, plan.keyFrames);
  const keyIndex = new Map(plan.keyFrames.map((f, i) => [f, i]));

  for (const clipRun of plan.runs) {
    pass++;
    const frames = [...clipRun.keys, ...clipRun.frames];
    const grid = { frames: frames.length, height: h, width: w };
    const pair = await graphPair(run, { ...grid, keyPair: true });
    const control = pickFrames(run.control, frames);
    const sampler = createSampler(options.sampler.kind, args.model.facts.schedulerConfig, N);
    const [a, b] = clipRun.keys.map((k) => keyIndex.get(k) as number);
    let z = pickFrames({ data: initial, dims: [geo.frames, geo.channels, h, w] }, clipRun.frames).data;
    for (let c = 0; c < N; c++) {
      throwIfCanceled(args.signal, 'editing');
      const input = new Float32Array(frames.length * per);
      input.set(keys.starts[c].subarray(a * per, (a + 1) * per), 0);
      input.set(keys.starts[c].subarray(b * per, (b + 1) * per), per);
      input.set(z, 2 * per);
      const { eps } = await guidedStep(run, pair, input, grid, control, sampler.timesteps[c]);
      z = sampler.step(eps.subarray(2 * per), c, z);
      progress(c + 1);
    }
    putFrames(latent, z, clipRun.frames);
  }
  const sampling = options.ocd.sampling;
  return {
    initial, latent,
    ranAs: sampling ? withoutSampling(options.preset) : options.preset,
    note: `${geo.frames} frames ran with the hierarchical sampler (${plan.keyFrames.length} key frames, then ${plan.runs.length} in-between runs)${sampling ? '; object-centric sampling is not combined with it' : ''}`,
    mergedLayers: keyPair.unetTome.length + keyPair.controlnetTome.length,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// report

function buildReport(run: Run, sampled: Sampled, truncated: boolean): EditReport {
  const { args, geo, counters } = run;
  // the controlvideo preset's cost at the same frames and size: 50 guided calls of 2F
  const baselineTokenSteps = CONTROLVIDEO_DEFAULTS.steps * 2 * geo.frames * geo.latentHeight * geo.latentWidth;
  return {
    preset: args.options.preset,
    ranAs: sampled.ranAs,
    note: sampled.note,
    options: args.options,
    seed: args.options.seed,
    model: { identity: `${args.model.facts.identity}+controlnet:${run.controlnet.facts.identity}`, provider: args.model.facts.provider },
    frames: geo.frames,
    size: { width: geo.width, height: geo.height, latentWidth: geo.latentWidth, latentHeight: geo.latentHeight },
    controller: null,
    promptTruncated: truncated,
    stages: counters.stageSeconds as StageTimes,
    unetCalls: counters.unetCalls,
    tokenSteps: counters.tokenSteps,
    tokenStepsRelative: counters.tokenSteps / baselineTokenSteps,
    attentionStore: { bytes: 0, memoryBytes: 0, diskBytes: 0, entries: 0 },
    peakRssBytes: counters.peakRss,
    mask: sampled.mask ? { areaFraction: sampled.mask.area, box: sampled.mask.box, source: sampled.mask.source, words: sampled.mask.words } : null,
    tome: run.tome.enabled ? { mergedLayers: sampled.mergedLayers, importedPlans: 0, levels: [] } : null,
  };
}
