/**
 * The quality benchmark's scoring rules: a rendered clip must score as what it is (so a failed edit is the model's
 * fault, not the rule's), and neither a clip with another attribute nor noise may pass.
 */
import { describe, expect, it } from 'vitest';
import {
  backgroundColourIs, maskedPsnr, morph, objectColourIs, objectShapeIs, scoreGenerated, truthFrames,
} from '../../../gpu-runner/bench/toy-quality/scoring.ts';
import { Mulberry32, SHAPES, COLOURS, clipParams, editClip, type ClipParams } from '../../../gpu-runner/toy-world/world.ts';

const seeds = [1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004];

function outsideOf(params: ClipParams): Uint8Array[] {
  return truthFrames(params).map((t) => morph(t.mask, params.size, 2, 'dilate').map((v) => 1 - v));
}

function noise(seed: number, size: number, frames: number): Uint8Array[] {
  const rng = new Mulberry32(seed);
  return Array.from({ length: frames }, () => Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)));
}

describe('toy quality scoring rules', () => {
  it.each(seeds)('seed %i: the ground truth passes its own colour, shape and background rules', (seed) => {
    const params = clipParams(seed);
    const truth = truthFrames(params);
    const rgb = truth.map((t) => t.rgb);
    expect(objectColourIs(rgb, truth, params.size, params.colour)).toBe(true);
    expect(objectShapeIs(rgb, params)).toBe(true);
    expect(backgroundColourIs(rgb, params, outsideOf(params))).toBe(true);
  });

  it.each(seeds)('seed %i: the unedited clip and noise fail the rules of an edit', (seed) => {
    const params = clipParams(seed);
    const source = truthFrames(params).map((t) => t.rgb);
    const colour = editClip(params, 'colour', COLOURS.findIndex((_, c) => c !== params.colour && c !== params.background)).target;
    const shape = editClip(params, 'shape', (params.shape + 1) % SHAPES.length).target;
    const background = editClip(params, 'background', COLOURS.findIndex((_, c) => c !== params.colour && c !== params.background)).target;
    const random = noise(seed, params.size, params.frames);
    for (const frames of [source, random]) {
      expect(objectColourIs(frames, truthFrames(colour), params.size, colour.colour)).toBe(false);
      expect(objectShapeIs(frames, shape)).toBe(false);
      expect(backgroundColourIs(frames, background, outsideOf(background))).toBe(false);
    }
  });

  it.each(seeds.slice(0, 3))('seed %i: text-to-image rules accept a frame for its own caption only, and reject noise', (seed) => {
    const params = clipParams(seed);
    const [first] = truthFrames(params);
    const own = scoreGenerated(first.rgb, params.size, params.colour, params.shape);
    expect(own.colourOk && own.shapeOk).toBe(true);
    expect(scoreGenerated(first.rgb, params.size, params.colour, (params.shape + 1) % SHAPES.length).shapeOk).toBe(false);
    const absent = COLOURS.findIndex((_, c) => c !== params.colour && c !== params.background);
    expect(scoreGenerated(first.rgb, params.size, absent, params.shape).colourOk).toBe(false);
    const [random] = noise(seed, params.size, 1);
    expect(scoreGenerated(random, params.size, params.colour, params.shape).shapeOk).toBe(false);
  });

  it('PSNR over selected pixels', () => {
    const a = [new Uint8Array([10, 10, 10, 0, 0, 0])];
    const b = [new Uint8Array([10, 10, 10, 255, 255, 255])];
    expect(maskedPsnr(a, b, [new Uint8Array([1, 0])])).toBe(Infinity);
    expect(maskedPsnr(a, b, [new Uint8Array([0, 1])])).toBeCloseTo(0, 6);
    expect(maskedPsnr(a, b, [new Uint8Array([0, 0])])).toBeNull();
  });
});
