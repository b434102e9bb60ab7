/**
 * Runs the toy-world quality benchmark on a loaded model: edits of held-out clips under each preset scored
 * against their ground truth, the VAE's reconstruction PSNR, and text-to-image on held-out captions.
 * Everything runs in this process through the engine's own API (runEdit, generateFromLatents).
 */
import type { EditRequest } from '../../../shared/edit-request.ts';
import { generateFromLatents } from '../../engine/generate.ts';
import type { EditModel } from '../../engine/model.ts';
import { resolveOptions, runEdit } from '../../engine/index.ts';
import { framesToTensor, tensorToFrames } from '../../video/frames.ts';
import { COLOURS, Mulberry32, PATTERNS, SHAPES, caption, clipParams, comboHeldOut, editClip, type ClipEdit, type ClipParams, type EditKind } from '../../toy-world/world.ts';
import { psnr, temporalConsistency } from '../engine-quality.ts';
import {
  backgroundColourIs, maskedPsnr, morph, objectColourIs, objectShapeIs, scoreGenerated, truthFrames,
} from './scoring.ts';

/** A setting to benchmark: a label and the request knobs on top of the prompts. */
export interface QualityPreset {
  readonly label: string;
  readonly request: Partial<EditRequest>;
}

/** Scores of one edit. */
export interface EditScore {
  readonly preset: string;
  readonly kind: EditKind;
  readonly seed: number;
  readonly sourcePrompt: string;
  readonly targetPrompt: string;
  readonly success: boolean;
  readonly backgroundPsnr: number | null;
  readonly objectPsnr: number | null;
  readonly temporal: number | null;
  readonly truthTemporal: number | null;
  readonly seconds: number;
  readonly unetCalls: number;
}

export const EDIT_KINDS: readonly EditKind[] = ['colour', 'shape', 'background'];

/** Held-out clip seeds of the benchmark (seeds >= world.json heldOut.seedsFrom never trained on). */
export function benchSeeds(count: number): number[] {
  return Array.from({ length: count }, (_, i) => 1_000_000 + 7 * i);
}

/** The edit of `kind` the benchmark asks of a clip: a deterministic new value that differs from the clip's. */
export function benchEdit(params: ClipParams, kind: EditKind): ClipEdit {
  const rng = new Mulberry32(params.seed ^ 0x5bd1e995);
  if (kind === 'shape') return editClip(params, kind, (params.shape + 1 + rng.int(SHAPES.length - 1)) % SHAPES.length);
  const taken = new Set([params.colour, params.background]);
  const free = COLOURS.map((_, i) => i).filter((i) => !taken.has(i));
  return editClip(params, kind, free[rng.int(free.length)]);
}

const seconds = (start: number) => (performance.now() - start) / 1000;

/** Scores an edited clip against the ground truth of `edit`. */
export function scoreEdit(output: readonly Uint8Array[], edit: ClipEdit): Omit<EditScore, 'preset' | 'seconds' | 'unetCalls'> {
  const size = edit.target.size;
  const source = truthFrames(edit.source);
  const target = truthFrames(edit.target);
  const union = target.map((t, f) => t.mask.map((v, p) => v | source[f].mask[p]));
  const outside = union.map((m) => morph(m, size, 2, 'dilate').map((v) => 1 - v));
  const targetRgb = target.map((t) => t.rgb);
  const success = edit.kind === 'colour' ? objectColourIs(output, target, size, edit.target.colour)
    : edit.kind === 'shape' ? objectShapeIs(output, edit.target)
      : backgroundColourIs(output, edit.target, outside);
  return {
    kind: edit.kind,
    seed: edit.source.seed,
    sourcePrompt: edit.sourcePrompt,
    targetPrompt: edit.targetPrompt,
    success,
    backgroundPsnr: maskedPsnr(output, targetRgb, outside),
    objectPsnr: maskedPsnr(output, targetRgb, target.map((t) => t.mask)),
    temporal: temporalConsistency(output),
    truthTemporal: temporalConsistency(targetRgb),
  };
}

/** Edits one held-out clip under one preset and scores it; also returns the edited frames. */
export async function runBenchEdit(model: EditModel, edit: ClipEdit, preset: QualityPreset): Promise<{ score: EditScore; frames: Uint8Array[] }> {
  const clip = truthFrames(edit.source);
  const request: EditRequest = {
    ...preset.request,
    sourcePrompt: edit.sourcePrompt,
    targetPrompt: edit.targetPrompt,
    frames: { count: clip.length, selection: 'first' },
    fusion: { ...preset.request.fusion, blendWords: { source: [edit.fromWord], target: [edit.toWord] } },
  };
  const options = resolveOptions(request);
  const result = await runEdit({ input: { frames: clip.map((f) => f.rgb), width: edit.source.size, height: edit.source.size }, options, model });
  const stages = result.report.stages as Record<string, number | undefined>;
  const time = Object.entries(stages).reduce((s, [stage, v]) => (stage === 'load' ? s : s + (v ?? 0)), 0);
  return { score: { ...scoreEdit(result.frames, edit), preset: preset.label, seconds: time, unetCalls: result.report.unetCalls }, frames: result.frames };
}

/** VAE reconstruction PSNR (posterior mean, decoded) over every frame of held-out clips. */
export async function vaeReconstruction(model: EditModel, seeds: readonly number[]): Promise<{ psnr: number; perClip: number[]; seconds: number }> {
  const start = performance.now();
  const perClip: number[] = [];
  const all: { a: Uint8Array[]; b: Uint8Array[] } = { a: [], b: [] };
  for (const seed of seeds) {
    const params = clipParams(seed);
    const frames = truthFrames(params).map((t) => t.rgb);
    const latents = await model.encodeImages({ data: framesToTensor(frames, params.size, params.size), dims: [frames.length, 3, params.size, params.size] });
    const decoded = await model.decodeLatents(latents);
    const out = tensorToFrames(decoded.data, frames.length, params.size, params.size);
    perClip.push(psnr(out, frames));
    all.a.push(...out);
    all.b.push(...frames);
  }
  return { psnr: psnr(all.a, all.b), perClip, seconds: seconds(start) };
}

/** Captions of combinations never shown in training (world.json heldOut), spread over all of them. */
export function heldOutCaptions(count: number): { caption: string; colour: number; shape: number }[] {
  const combos: { shape: number; colour: number; pattern: number; background: number }[] = [];
  SHAPES.forEach((_, shape) => COLOURS.forEach((__, colour) => PATTERNS.forEach((___, pattern) => COLOURS.forEach((____, background) => {
    if (background !== colour && comboHeldOut(shape, colour, pattern, background)) combos.push({ shape, colour, pattern, background });
  }))));
  const stride = combos.length / count;
  return Array.from({ length: Math.min(count, combos.length) }, (_, i) => {
    const combo = combos[Math.floor(i * stride)];
    return { caption: caption(combo, 1), colour: combo.colour, shape: combo.shape };
  });
}

/** Standard normal samples from a seeded mulberry32 (Box-Muller). */
export function gaussian(seed: number, n: number): Float32Array {
  const rng = new Mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = (rng.next() + 1) / 4294967297;
    const v = rng.next() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export interface TextToImageScore {
  readonly caption: string;
  readonly colourOk: boolean;
  readonly shapeOk: boolean;
  readonly objectFraction: number;
}

/** Text-to-image on held-out captions: DPM-Solver++ 20 steps, guidance 7.5, one seeded latent per caption. */
export async function textToImage(model: EditModel, count: number): Promise<{ scores: TextToImageScore[]; seconds: number; images: Uint8Array[] }> {
  const start = performance.now();
  const size = model.facts.defaultSize;
  const h = size / model.facts.vaeScaleFactor;
  const C = model.facts.latentChannels;
  const scores: TextToImageScore[] = [];
  const images: Uint8Array[] = [];
  for (const [i, prompt] of heldOutCaptions(count).entries()) {
    const result = await generateFromLatents({
      model, prompt: prompt.caption, latents: { data: gaussian(10_000 + i, C * h * h), dims: [1, C, h, h] },
      sampler: 'dpmsolver++', steps: 20, guidance: 7.5,
    });
    const [rgb] = tensorToFrames(result.decoded.data, 1, size, size);
    images.push(rgb);
    const s = scoreGenerated(rgb, size, prompt.colour, prompt.shape);
    scores.push({ caption: prompt.caption, colourOk: s.colourOk, shapeOk: s.shapeOk, objectFraction: s.objectFraction });
  }
  return { scores, seconds: seconds(start), images };
}
