import { describe, expect, it } from 'vitest';
import {
  checkEditOptions,
  CONTROLVIDEO_NEGATIVE_PROMPT,
  EditRequestSchema,
  PRESET_DEFAULTS,
  resolveEditDefaults,
  resolveEditOptions,
  type EditRequest,
  type Preset,
} from '../../shared/edit-request.ts';

const prompts = { sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking' };

describe('resolveEditOptions', () => {
  it('defaults to the ocd preset with object-centric sampling and merging on', () => {
    const options = resolveEditOptions(prompts);
    expect(options.preset).toBe('ocd');
    expect(options.sampler).toEqual({ kind: 'dpmsolver++', steps: 20, guidance: 7.5 });
    expect(options.inversion.steps).toBe(20);
    expect(options.tome).toMatchObject({ enabled: true, ratio: [0.5, 0.75], scope: 'clip', st: 2, objectCentric: true, beta: 10 });
    expect(options.ocd).toMatchObject({ sampling: true, gamma: 0.5, phi: 0.25, background: 'coarse', mask: 'auto' });
    expect(options.frames).toEqual({ count: 8, selection: 'spread', samplingRate: 1, square: false });
    expect(options.negativePrompt).toBe('');
    expect(options.size).toBeNull();
  });

  it('keeps fatezero faithful: DDIM 50 steps, host store, no merging, no OCD sampling', () => {
    const options = resolveEditOptions({ ...prompts, preset: 'fatezero' });
    expect(options.sampler).toEqual({ kind: 'ddim', steps: 50, guidance: 7.5 });
    expect(options.inversion.steps).toBe(50);
    expect(options.fusion.store).toBe('memory');
    expect(options.tome.enabled).toBe(false);
    expect(options.ocd.sampling).toBe(false);
    expect(options.fusion).toMatchObject({ crossReplaceSteps: 0.8, selfReplaceSteps: 0.9, blendThreshold: 0.3 });
    // FateZero's preprocessing and (every preset) its clip-wide GroupNorm
    expect(options.frames).toEqual({ count: 8, selection: 'first', samplingRate: 1, square: true });
    expect(options.crossFrame).toEqual({ minChannels: null, groupNorm: 'clip' });
    expect(resolveEditOptions({ ...prompts, preset: 'ocd' }).crossFrame.groupNorm).toBe('clip');
  });

  it('optimized merges at the highest level with paired, per-frame plans', () => {
    const options = resolveEditOptions({ ...prompts, preset: 'optimized' });
    expect(options.tome).toMatchObject({ enabled: true, ratio: [0.5], paired: true, resamplePerFrame: true, objectCentric: false });
    expect(options.ocd.sampling).toBe(false);
  });

  it.each<[Preset, EditRequest]>([
    ['fatezero', { ...prompts, preset: 'fatezero', tome: { enabled: true, ratio: [0.3] } }],
    ['ocd', { ...prompts, preset: 'ocd', ocd: { sampling: false, gamma: 0 } }],
  ])('lets every knob override the %s preset', (_preset, request) => {
    const options = resolveEditOptions(request);
    if (request.tome) expect(options.tome).toMatchObject(request.tome);
    if (request.ocd) expect(options.ocd).toMatchObject(request.ocd);
  });

  it('pairs inversion steps with sampler steps unless set', () => {
    expect(resolveEditOptions({ ...prompts, sampler: { steps: 30 } }).inversion.steps).toBe(30);
    expect(() => resolveEditOptions({ ...prompts, sampler: { steps: 30 }, inversion: { steps: 10 } })).toThrow(/inversion\.steps.*sampler\.steps is 30/);
  });

  it('defaults the mask to the uploaded mask video when one is given', () => {
    expect(resolveEditOptions(prompts, { hasMaskVideo: true }).ocd.mask).toBe('video');
    expect(() => resolveEditOptions({ ...prompts, ocd: { mask: 'video' } }, { hasMaskVideo: false })).toThrow(/no mask video/);
  });

  it('derives the editor from the preset, and the preset from the editor', () => {
    expect(resolveEditDefaults(prompts)).toMatchObject({ editor: 'fatezero', preset: 'ocd', control: null });
    expect(resolveEditDefaults({ ...prompts, editor: 'controlvideo' })).toMatchObject({ editor: 'controlvideo', preset: 'controlvideo-ocd' });
    const faithful = resolveEditDefaults({ ...prompts, preset: 'controlvideo' });
    expect(faithful).toMatchObject({ editor: 'controlvideo', control: { type: 'canny', low: 100, high: 200 }, conditioningScale: 1 });
    expect(faithful.sampler).toEqual({ kind: 'ddim', steps: 50, guidance: 12.5 });
    expect(faithful.frames).toMatchObject({ count: 15, selection: 'first' });
    const mismatch = checkEditOptions(resolveEditDefaults({ ...prompts, editor: 'fatezero', preset: 'controlvideo-ocd' }));
    expect(mismatch.map((p) => p.path.join('.'))).toContain('editor');
  });

  it('resolves the control: canny thresholds over the defaults, a control video when one came, refused where it cannot apply', () => {
    const cv = { ...prompts, editor: 'controlvideo' as const };
    expect(resolveEditDefaults({ ...cv, control: { type: 'canny', low: 50 } }).control).toEqual({ type: 'canny', low: 50, high: 200 });
    expect(resolveEditDefaults(cv, { hasControlVideo: true }).control).toEqual({ type: 'video' });
    const paths = (request: EditRequest, context = {}) => checkEditOptions(resolveEditDefaults(request, context), context).map((p) => p.path.join('.'));
    expect(paths({ ...cv, control: { type: 'canny', low: 250, high: 200 } })).toContain('control.low');
    expect(paths({ ...cv, control: { type: 'video' } }, { hasControlVideo: false })).toContain('control');
    expect(paths({ ...prompts, control: { type: 'canny' } })).toContain('control');
    expect(paths(prompts)).toEqual([]);
  });

  it('runs the controlvideo presets (no longer refused) and refuses, by path, the knobs ControlVideo has no use for', () => {
    const cv = { ...prompts, editor: 'controlvideo' as const };
    const paths = (request: EditRequest) => checkEditOptions(resolveEditDefaults(request)).map((p) => p.path.join('.'));
    for (const preset of ['controlvideo', 'controlvideo-optimized', 'controlvideo-ocd'] as const) expect(paths({ ...prompts, preset })).toEqual([]);
    expect(resolveEditDefaults({ ...prompts, preset: 'controlvideo' }).negativePrompt).toBe(CONTROLVIDEO_NEGATIVE_PROMPT);
    expect(resolveEditDefaults({ ...prompts, preset: 'controlvideo-optimized' }).tome).toMatchObject({ enabled: true, paired: false, scope: 'clip' });
    expect(paths({ ...cv, fusion: { crossReplaceSteps: 0.5 } })).toEqual(['fusion.crossReplaceSteps']);
    expect(paths({ ...cv, fusion: { crossReplaceSteps: 0.8 } })).toEqual([]); // the preset's own value means nothing either way
    expect(paths({ ...cv, tome: { paired: true } })).toEqual(['tome.paired']);
    expect(paths({ ...cv, tome: { scope: 'frame', target: 'kv' } })).toEqual(['tome.target']);
    expect(paths({ ...cv, ocd: { background: 'inversion' } })).toEqual(['ocd.background']);
    // the same knobs stay valid for FateZero
    expect(paths({ ...prompts, fusion: { crossReplaceSteps: 0.5 }, ocd: { background: 'inversion' } })).toEqual([]);
  });

  it('never lets a resolved option alias the frozen defaults', () => {
    const options = resolveEditOptions(prompts);
    options.tome.ratio.push(0.1);
    options.fusion.reweight.red = 2;
    expect(PRESET_DEFAULTS.ocd.tome.ratio).toEqual([0.5, 0.75]);
    expect(PRESET_DEFAULTS.ocd.fusion.reweight).toEqual({});
  });
});

describe('EditRequestSchema', () => {
  it('accepts a minimal request', () => {
    expect(EditRequestSchema.safeParse(prompts).success).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['an empty source prompt', { ...prompts, sourcePrompt: '' }, 'sourcePrompt'],
    ['a blank target prompt', { ...prompts, targetPrompt: '   ' }, 'targetPrompt'],
    ['a 10 kB prompt', { ...prompts, sourcePrompt: 'a'.repeat(10_000) }, 'sourcePrompt'],
    ['an unknown preset', { ...prompts, preset: 'turbo' }, 'preset'],
    ['an unknown top-level field', { ...prompts, strength: 0.5 }, ''],
    ['an unknown nested field', { ...prompts, tome: { ratios: [0.5] } }, 'tome'],
    ['too many steps', { ...prompts, sampler: { steps: 101 } }, 'sampler.steps'],
    ['fractional steps', { ...prompts, sampler: { steps: 2.5 } }, 'sampler.steps'],
    ['guidance above 30', { ...prompts, sampler: { guidance: 31 } }, 'sampler.guidance'],
    ['a merge ratio of 1', { ...prompts, tome: { ratio: [1] } }, 'tome.ratio.0'],
    ['phi of 0', { ...prompts, ocd: { phi: 0 } }, 'ocd.phi'],
    ['gamma above 1', { ...prompts, ocd: { gamma: 1.5 } }, 'ocd.gamma'],
    ['a size that is not a multiple of 64', { ...prompts, size: 500 }, 'size'],
    ['a size above 1024', { ...prompts, size: 2048 }, 'size'],
    ['65 frames', { ...prompts, frames: { count: 65 } }, 'frames.count'],
    ['a negative seed', { ...prompts, seed: -1 }, 'seed'],
    ['a string where a number belongs', { ...prompts, seed: '42' }, 'seed'],
    ['unpaired inversion steps', { ...prompts, inversion: { steps: 10 } }, 'inversion.steps'],
  ])('rejects %s', (_name, body, path) => {
    const result = EditRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path.join('.'))).toContain(path);
  });
});
