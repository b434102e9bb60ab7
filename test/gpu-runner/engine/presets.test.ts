import { describe, expect, it } from 'vitest';
import { chooseController, resolveOptions, wordTokenPositions } from '../../../gpu-runner/engine/presets.ts';
import { createInversion, createSampler } from '../../../gpu-runner/engine/sampling.ts';

const SD15_SCHEDULER = {
  _class_name: 'PNDMScheduler', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, clip_sample: false,
  num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null,
};
const prompts = { sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking' };

describe('preset defaults (method.md §2)', () => {
  it('fatezero: DDIM 50 with 50-step inversion, host store of every map, no merging, no object-centric sampling', () => {
    const o = resolveOptions({ ...prompts, preset: 'fatezero' });
    expect(o.sampler).toEqual({ kind: 'ddim', steps: 50, guidance: 7.5 });
    expect(o.inversion.steps).toBe(50);
    expect(o.fusion.store).toBe('memory');
    expect(o.tome.enabled).toBe(false);
    expect(o.ocd.sampling).toBe(false);
  });

  it('optimized: DPM-Solver++ 20, paired per-frame ToMe 0.5 at the highest level', () => {
    const o = resolveOptions({ ...prompts, preset: 'optimized' });
    expect(o.sampler).toEqual({ kind: 'dpmsolver++', steps: 20, guidance: 7.5 });
    expect(o.tome).toMatchObject({ enabled: true, ratio: [0.5], paired: true, resamplePerFrame: true, objectCentric: false });
    expect(o.ocd.sampling).toBe(false);
  });

  it('ocd: object-centric ToMe 0.5 / 0.75 at clip scope and object-centric sampling gamma 0.5, phi 0.25 with the auto mask', () => {
    const o = resolveOptions({ ...prompts, preset: 'ocd' });
    expect(o.tome).toMatchObject({ enabled: true, ratio: [0.5, 0.75], scope: 'clip', st: 2, target: 'all', objectCentric: true, beta: 10 });
    expect(o.ocd).toMatchObject({ sampling: true, gamma: 0.5, phi: 0.25, background: 'coarse', mask: 'auto' });
    expect(resolveOptions({ ...prompts, preset: 'ocd' }, { hasMaskVideo: true }).ocd.mask).toBe('video');
  });

  it('every knob stays settable under a preset', () => {
    const o = resolveOptions({ ...prompts, preset: 'fatezero', sampler: { kind: 'dpmsolver++', steps: 12 }, tome: { enabled: true }, ocd: { sampling: true, gamma: 0.6 } });
    expect(o.sampler.kind).toBe('dpmsolver++');
    expect(o.inversion.steps).toBe(12);
    expect(o.tome.enabled).toBe(true);
    expect(o.ocd.gamma).toBe(0.6);
  });
});

describe('choices from the prompts', () => {
  it('auto picks replace for a word swap and refine otherwise', () => {
    expect(chooseController('auto', ['a', 'bear'], ['a', 'tiger'])).toBe('replace');
    expect(chooseController('auto', ['a', 'bear'], ['a', 'red', 'tiger'])).toBe('refine');
    expect(chooseController('refine', ['a'], ['b'])).toBe('refine');
  });

});

describe('sampler and paired inversion', () => {
  it.each([
    { kind: 'ddim' as const, steps: 50, first: 981, last: 1 },
    { kind: 'dpmsolver++' as const, steps: 20, first: 999, last: 50 },
  ])('$kind $steps: inversion visits the editing timesteps in ascending order', ({ kind, steps, first, last }) => {
    const sampler = createSampler(kind, SD15_SCHEDULER, steps);
    expect(sampler.timesteps[0]).toBe(first);
    expect(sampler.timesteps[steps - 1]).toBe(last);
    const inversion = createInversion(sampler, SD15_SCHEDULER);
    expect([...inversion.timesteps]).toEqual([...sampler.timesteps].reverse());
  });
});

describe('wordTokenPositions', () => {
  it('marks every occurrence of a blend word, as FateZero does', () => {
    const prompt = { words: ['a', 'cat', 'and', 'a', 'cat', 'toy'], tokenPositions: [[1], [2], [3], [4], [5], [6, 7]] };
    expect(wordTokenPositions(['cat'], prompt)).toEqual([2, 5]);
    expect(wordTokenPositions(['Toy', 'a'], prompt)).toEqual([6, 7, 1, 4]);
    expect(() => wordTokenPositions(['dog'], prompt)).toThrow(/'dog' is not a word/);
  });
});
