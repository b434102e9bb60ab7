import { describe, expect, it } from 'vitest';
import {
  alignTokens, buildCrossAttentionMapping, crossReplaceActive, fuseCrossReference, mapperToMatrix, MAX_TOKENS,
  refineMapping, replaceMatrix, reweightVector, selfReplaceActive,
} from '../../../../gpu-runner/engine/fusion/seq-aligner.ts';

const BOS = 49406;
const EOS = 49407;

describe('alignTokens (gap 0, match 1, mismatch -1)', () => {
  it.each([
    { name: 'identical', source: [BOS, 1, 2, 3, EOS], target: [BOS, 1, 2, 3, EOS], mapper: [0, 1, 2, 3, 4] },
    { name: 'inserted word', source: [BOS, 1, 2, 3, EOS], target: [BOS, 1, 9, 2, 3, EOS], mapper: [0, 1, -1, 2, 3, 4] },
    { name: 'prefix added', source: [BOS, 5, 6, EOS], target: [BOS, 7, 8, 5, 6, EOS], mapper: [0, -1, -1, 1, 2, 3] },
    { name: 'deleted word', source: [BOS, 1, 2, 3, EOS], target: [BOS, 1, 3, EOS], mapper: [0, 1, 3, 4] },
  ])('$name', ({ source, target, mapper }) => {
    expect([...alignTokens(source, target)]).toEqual(mapper);
  });
});

describe('refineMapping', () => {
  it('marks new tokens with alpha 0 and maps padding to itself', () => {
    const { mapper, alpha } = refineMapping([BOS, 1, 2, EOS], [BOS, 1, 9, 2, EOS]);
    expect([...mapper.slice(0, 7)]).toEqual([0, 1, -1, 2, 3, 5, 6]);
    expect([...alpha.slice(0, 6)]).toEqual([1, 1, 0, 1, 1, 1]);
    expect(mapper[76]).toBe(76);
  });

  it('fails on an encoding longer than 77 tokens', () => {
    expect(() => refineMapping(new Array(78).fill(1), [BOS, EOS])).toThrow(/78 tokens/);
  });

  it('as a matrix, S @ M gathers the mapped source columns', () => {
    const { mapper } = refineMapping([BOS, 1, 2, EOS], [BOS, 1, 9, 2, EOS]);
    const m = mapperToMatrix(mapper);
    const s = Float32Array.from({ length: MAX_TOKENS }, (_, k) => k + 1);
    for (let j = 0; j < MAX_TOKENS; j++) {
      let v = 0;
      for (let k = 0; k < MAX_TOKENS; k++) v += s[k] * m[k * MAX_TOKENS + j];
      expect(v).toBe(mapper[j] >= 0 ? s[mapper[j]] : 0);
    }
  });
});

describe('replaceMatrix', () => {
  const words = (ws: string[], tokens: number[][]) => ({ words: ws, tokenPositions: tokens });

  it('is the identity for a one-token-for-one-token swap', () => {
    const m = replaceMatrix(words(['a', 'cat', 'sits'], [[1], [2], [3]]), words(['a', 'dog', 'sits'], [[1], [2], [3]]));
    for (let i = 0; i < MAX_TOKENS; i++) for (let j = 0; j < MAX_TOKENS; j++) expect(m[i * MAX_TOKENS + j]).toBe(i === j ? 1 : 0);
  });

  it('spreads a source word evenly over a longer target word', () => {
    const m = replaceMatrix(words(['a', 'cat', 'sits'], [[1], [2], [3]]), words(['a', 'tabbycat', 'sits'], [[1], [2, 3], [4]]));
    expect(m[2 * MAX_TOKENS + 2]).toBeCloseTo(0.5);
    expect(m[2 * MAX_TOKENS + 3]).toBeCloseTo(0.5);
    expect(m[1 * MAX_TOKENS + 1]).toBe(1);
    expect(m[0]).toBe(1);
  });

  it('fails when word counts differ, naming the refine controller', () => {
    expect(() => replaceMatrix(words(['a', 'cat'], [[1], [2]]), words(['a', 'red', 'cat'], [[1], [2], [3]]))).toThrow(/refine/);
  });
});

describe('reweightVector', () => {
  it('sets the weight on every token of the named word and 1 elsewhere', () => {
    const w = reweightVector({ words: ['a', 'watercolor', 'fox'], tokenPositions: [[1], [2, 3], [4]] }, { watercolor: 10 });
    expect([...w.slice(0, 6)]).toEqual([1, 1, 10, 10, 1, 1]);
  });
  it('fails on a word the target does not have', () => {
    expect(() => reweightVector({ words: ['a'], tokenPositions: [[1]] }, { tiger: 2 })).toThrow(/'tiger' is not a word/);
  });
});

describe('time gates', () => {
  it('cross 0.8 of 50 steps fuses steps 0..39; self 0.9 fuses 0..44', () => {
    const cross = Array.from({ length: 50 }, (_, c) => crossReplaceActive(c, 50, 0.8));
    expect(cross.lastIndexOf(true)).toBe(39);
    expect(cross.indexOf(false)).toBe(40);
    const self = Array.from({ length: 50 }, (_, c) => selfReplaceActive(c, 50, 0.9));
    expect(self.lastIndexOf(true)).toBe(44);
    expect(selfReplaceActive(3, 50, [0.1, 0.5])).toBe(false);
    expect(selfReplaceActive(5, 50, [0.1, 0.5])).toBe(true);
  });
});

describe('fuseCrossReference', () => {
  it('refine keeps new tokens, takes aligned ones from the source, reweights, and a closed gate keeps the edit', () => {
    const mapping = buildCrossAttentionMapping({
      controller: 'refine', sourceIds: [BOS, 1, 2, EOS], targetIds: [BOS, 1, 9, 2, EOS],
      source: { words: ['x', 'y'], tokenPositions: [[1], [2]] },
      target: { words: ['x', 'z', 'y'], tokenPositions: [[1], [2], [3]] }, reweight: { z: 3 },
    });
    const s = Float32Array.from({ length: MAX_TOKENS }, (_, k) => k / 100);
    const p = Float32Array.from({ length: MAX_TOKENS }, (_, k) => 1 - k / 100);
    const fused = fuseCrossReference(s, p, 1, mapping, 1);
    expect(fused[1]).toBeCloseTo(s[1]);
    expect(fused[2]).toBeCloseTo(3 * p[2]);
    expect(fused[3]).toBeCloseTo(s[2]);
    expect(fused[4]).toBeCloseTo(s[3]);
    expect(fuseCrossReference(s, p, 1, mapping, 0)).toEqual(p);
  });
});
