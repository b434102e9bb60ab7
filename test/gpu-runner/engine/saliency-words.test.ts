import { describe, expect, it } from 'vitest';
import { openPromptTokenizer } from '../../../gpu-runner/engine/tokenizer.ts';
import { chooseSaliencyWords, isContentWord } from '../../../gpu-runner/engine/saliency-words.ts';
import { tinyBundleDir } from './support/model.ts';

const bundle = tinyBundleDir();
const tok = openPromptTokenizer(`${bundle}/tokenizer/vocab.json`, `${bundle}/tokenizer/merges.txt`);
const choose = (source: string, target: string, explicit?: string[]) => chooseSaliencyWords(tok.words(source), tok.words(target), explicit);

describe('chooseSaliencyWords', () => {
  it('follows the words the request names, at their CLIP token positions in the source prompt', () => {
    // BOS at 0: a=1 silver=2 jeep=3
    expect(choose('a silver jeep driving', 'a red car driving', ['jeep'])).toEqual({ basis: 'blend-words', words: ['jeep'], positions: [3], promptPositions: [1, 2, 3, 4] });
  });

  it('without blend words, takes the source words the target lacks, skipping stop words', () => {
    expect(choose('a brown bear walking on the rock', 'the red tiger walking on a rock')).toEqual({ basis: 'prompt-difference', words: ['brown', 'bear'], positions: [2, 3], promptPositions: [1, 2, 3, 4, 5, 6, 7] });
  });

  it('compares words without case and punctuation, and keeps every token of a word split by BPE', () => {
    const chosen = choose('A Jeep, driving', 'a car driving');
    expect(chosen.basis).toBe('prompt-difference');
    if (!chosen.basis) return;
    expect(chosen.words).toEqual(['jeep,']);
    expect(chosen.positions).toEqual(tok.words('A Jeep, driving').tokenPositions[1]);
    expect(chosen.positions.length).toBeGreaterThan(1); // "jeep" and ","
  });

  it('when the source has no word of its own, follows the content words the target keeps (style edits, reordering)', () => {
    expect(choose('a jeep on a road', 'watercolor painting of a jeep on a road')).toEqual({ basis: 'target-content-words', words: ['jeep', 'road'], positions: [2, 5], promptPositions: [1, 2, 3, 4, 5] });
    expect(choose('a cat and a dog', 'a dog and a cat')).toMatchObject({ basis: 'target-content-words', words: ['cat', 'dog'] });
  });

  it('gives a reason when only stop words are there to follow', () => {
    const chosen = choose('on the left', 'on the left');
    expect(chosen.basis).toBe('target-content-words'); // "left" is a content word
    expect(choose('a the', 'the a')).toEqual({ basis: null, reason: expect.stringMatching(/only stop words differ/) });
  });

  it('treats articles, prepositions and punctuation as stop words', () => {
    expect(['a', 'The', 'on', ',', 'of'].map(isContentWord)).toEqual([false, false, false, false, false]);
    expect(['bear', 'Tiger,', '2'].map(isContentWord)).toEqual([true, true, true]);
  });
});
