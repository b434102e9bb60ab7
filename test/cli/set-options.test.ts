import { describe, expect, it } from 'vitest';
import { deepMerge, parseSetOverrides } from '../../cli/set-options.ts';

describe('parseSetOverrides', () => {
  it('builds nested objects and parses JSON values', () => {
    expect(parseSetOverrides(['ocd.gamma=0.6', 'tome.ratio=[0.75,0.5]', 'ocd.background=inversion', 'tome.enabled=false'])).toEqual({
      ocd: { gamma: 0.6, background: 'inversion' },
      tome: { ratio: [0.75, 0.5], enabled: false },
    });
  });

  it.each([['gamma'], ['=1'], ['a..b=1'], ['__proto__.x=1']])('fails on the malformed assignment %s', (bad) => {
    expect(() => parseSetOverrides([bad])).toThrow(/--set/);
  });

  it('fails when a key is used both as a value and as an object', () => {
    expect(() => parseSetOverrides(['ocd=1', 'ocd.gamma=0.5'])).toThrow(/already set/);
  });
});

describe('deepMerge', () => {
  it('merges objects and replaces arrays', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] } }, { d: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 2 });
  });
});

describe('knobsFromFlags', async () => {
  const { knobsFromFlags, parseBlendWords } = await import('../../cli/edit-flags.ts');
  it('maps flags to edit knobs, --set last', () => {
    expect(
      knobsFromFlags({ source: 'a bear', target: 'a tiger', preset: 'ocd', steps: '10', seed: '3', 'blend-words': 'bear:tiger', set: ['sampler.steps=12', 'ocd.gamma=0.6'] }),
    ).toEqual({
      sourcePrompt: 'a bear',
      targetPrompt: 'a tiger',
      preset: 'ocd',
      seed: 3,
      sampler: { steps: 12 },
      fusion: { blendWords: { source: ['bear'], target: ['tiger'] } },
      ocd: { gamma: 0.6 },
    });
  });
  it('names the flag that does not parse', () => {
    expect(() => knobsFromFlags({ source: 'a', target: 'b', frames: 'eight' })).toThrow(/--frames/);
    expect(() => knobsFromFlags({ source: 'a', target: 'b', frames: '2.5' })).toThrow(/--frames must be a whole number/);
    expect(() => knobsFromFlags({ source: 'a' })).toThrow(/--target/);
    expect(() => parseBlendWords(':')).toThrow(/SRC\[:TGT\]/);
    expect(parseBlendWords('silver,jeep:Porsche,car')).toEqual({ source: ['silver', 'jeep'], target: ['Porsche', 'car'] });
    expect(parseBlendWords('bear')).toEqual({ source: ['bear'], target: ['bear'] });
  });
});
