import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIP_BOS_ID, CLIP_EOS_ID, CLIPTokenizer } from '../../../../gpu-runner/models/clip-tokenizer.ts';
import { CLIP_BPE_GZ, REFERENCE_CASES_DIR, REFERENCE_MODEL_DIR } from '../../../support/paths.ts';
import { integersOf, readSafetensorsLite } from '../../../support/safetensors-lite.ts';

interface TokenizerCase {
  prompt: string;
  openai_bpe: number[];
  hf_slow: number[];
  hf_slow_sd77: number[];
  hf_tokens: string[];
  truncated: boolean;
  openai_equals_hf: boolean;
}

const reference = JSON.parse(readFileSync(resolve(REFERENCE_CASES_DIR, 'tokenizer.json'), 'utf8')) as { cases: TokenizerCase[] };
const cases = reference.cases.map((c) => [c.prompt.length > 60 ? `${c.prompt.slice(0, 57)}...` : c.prompt, c] as const);
const VOCAB_JSON = resolve(REFERENCE_MODEL_DIR, 'tokenizer/vocab.json');
const MERGES_TXT = resolve(REFERENCE_MODEL_DIR, 'tokenizer/merges.txt');

// Every prompt is held to the ftfy variant (hf_slow_sd77): our ftfy subset covers all 43 (mojibake, curly quotes,
// full width, ligatures, HTML entities with and without '<', zero-width space), so none falls back to
// hf_slow_no_ftfy_sd77.

let tokenizer: CLIPTokenizer;
beforeAll(() => {
  tokenizer = CLIPTokenizer.fromFiles(VOCAB_JSON, MERGES_TXT);
});

describe('CLIPTokenizer against transformers\' CLIPTokenizer (ftfy installed) on 43 prompts', () => {
  it('covers all 43 reference cases', () => {
    expect(cases).toHaveLength(43);
  });

  it.each(cases)('%j: 77 ids for the text encoder (hf_slow_sd77) and the truncated flag', (_, c) => {
    const { ids, truncated } = tokenizer.encodeForModel(c.prompt);
    expect(ids).toEqual(c.hf_slow_sd77);
    expect(truncated).toBe(c.truncated);
  });

  it.each(cases)('%j: untruncated ids (hf_slow) and tokens (hf_tokens)', (_, c) => {
    const ids = [CLIP_BOS_ID, ...tokenizer.encode(c.prompt), CLIP_EOS_ID];
    expect(ids).toEqual(c.hf_slow);
    expect(ids.map((id) => tokenizer.tokenOf(id))).toEqual(c.hf_tokens);
  });

  it('agrees with OpenAI\'s SimpleTokenizer except where OpenAI unescapes HTML inside text with \'<\'', () => {
    const differing = reference.cases.filter((c) => JSON.stringify(tokenizer.encode(c.prompt)) !== JSON.stringify(c.openai_bpe)).map((c) => c.prompt);
    expect(differing).toEqual(reference.cases.filter((c) => !c.openai_equals_hf).map((c) => c.prompt));
    expect(differing).toEqual(['<b>bold &amp; brave</b>']);
  });

  it('gives the ids of the reference text-encoder and pipeline cases', () => {
    const textEncoder = readSafetensorsLite(resolve(REFERENCE_CASES_DIR, 'text_encoder.safetensors'));
    const ids = integersOf(textEncoder, 'input.input_ids');
    expect(tokenizer.encodeForModel('a photo of an astronaut riding a horse on mars').ids).toEqual(ids.slice(0, 77));
    expect(tokenizer.encodeForModel('A red car, parked by the sea at sunset!').ids).toEqual(ids.slice(77));
    for (const name of ['pipeline_ddim', 'pipeline_dpmpp2m']) {
      const pipeline = integersOf(readSafetensorsLite(resolve(REFERENCE_CASES_DIR, `${name}.safetensors`)), 'input.uncond_cond_input_ids');
      expect(tokenizer.encodeForModel('').ids).toEqual(pipeline.slice(0, 77));
      expect(tokenizer.encodeForModel('a watercolor painting of a fox in the snow').ids).toEqual(pipeline.slice(77));
    }
  });
});

describe('CLIPTokenizer.fromOpenAIBpeGz', () => {
  it('builds the same vocabulary, merges and ids as the model folder\'s vocab.json + merges.txt', () => {
    const fromGz = CLIPTokenizer.fromOpenAIBpeGz(CLIP_BPE_GZ);
    expect(fromGz.vocabSize).toBe(49408);
    expect(tokenizer.vocabSize).toBe(49408);
    for (let id = 0; id < 49408; id++) {
      if (fromGz.tokenOf(id) !== tokenizer.tokenOf(id)) expect(`${id}: ${fromGz.tokenOf(id)}`).toBe(`${id}: ${tokenizer.tokenOf(id)}`);
    }
    const gzMerges = gunzipSync(readFileSync(CLIP_BPE_GZ)).toString('utf8').split('\n').slice(1, 48895);
    const txtMerges = readFileSync(MERGES_TXT, 'utf8').split('\n').slice(1).filter((l) => l.length > 0);
    expect(gzMerges).toEqual(txtMerges);
    for (const c of reference.cases) expect(fromGz.encodeForModel(c.prompt).ids).toEqual(tokenizer.encodeForModel(c.prompt).ids);
  });
});

describe('CLIPTokenizer decoding', () => {
  it.each([
    [320, 'a'],
    [CLIP_BOS_ID, '<|startoftext|>'],
    [CLIP_EOS_ID, '<|endoftext|>'],
  ])('decodeToken(%i) = %j', (id, text) => {
    expect(tokenizer.decodeToken(id)).toBe(text);
  });

  it('decodes a sequence back to the cleaned prompt', () => {
    expect(tokenizer.decode(tokenizer.encode('A “Smart” ＣＡＦÉ, ﬁne!'))).toBe('a " smart " café , fine !');
    expect(tokenizer.decode(tokenizer.encode('東京タワーの夜景'))).toBe('東京タワーの夜景');
  });

  it('decodes a token holding part of a character to U+FFFD', () => {
    // 東 is one token (æĿ±); 京 is split, and its first token (äº) holds 2 of its 3 bytes.
    const [whole, partial] = tokenizer.encode('東京タワーの夜景');
    expect(tokenizer.decodeToken(whole)).toBe('東');
    expect(tokenizer.decodeToken(partial)).toBe('\ufffd');
  });

  it('fails on an id outside the vocabulary', () => {
    expect(() => tokenizer.decodeToken(49408)).toThrow(/49408 is not in the vocabulary \(0..49407\)/);
  });
});

describe('CLIPTokenizer.wordTokenPositions (prompt-to-prompt word indices, BOS at 0)', () => {
  it.each([
    ['a photo of an astronaut riding a horse on mars', [['a', [1]], ['photo', [2]], ['of', [3]], ['an', [4]], ['astronaut', [5]], ['riding', [6]], ['a', [7]], ['horse', [8]], ['on', [9]], ['mars', [10]]]],
    ['the cat\'s toy', [['the', [1]], ["cat's", [2, 3]], ['toy', [4]]]],
    ['Hello, world!', [['hello,', [1, 2]], ['world!', [3, 4]]]],
    ['antidisestablishmentarianism  tiger', [['antidisestablishmentarianism', [1, 2, 3, 4, 5, 6]], ['tiger', [7]]]],
    ['iPhone15ProMax 8k', [['iphone15promax', [1, 2, 3, 4, 5]], ['8k', [6, 7]]]],
    ['東京タワーの夜景 night', [['東京タワーの夜景', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]], ['night', [13]]]],
    ['<|startoftext|>a dog', [['<|startoftext|>', [1]], ['a', [2]], ['dog', [3]]]],
    ['', []],
  ] as const)('%j', (prompt, expected) => {
    expect(tokenizer.wordTokenPositions(prompt)).toEqual(expected.map(([word, positions]) => ({ word, positions })));
  });

  it('gives every token of every reference prompt to exactly one word, in order', () => {
    for (const c of reference.cases) {
      const positions = tokenizer.wordTokenPositions(c.prompt).flatMap((w) => w.positions);
      const kept = Math.min(tokenizer.encode(c.prompt).length, 75);
      expect(positions).toEqual(Array.from({ length: kept }, (_, i) => i + 1));
    }
  });

  it('leaves words past the 75th token without positions', () => {
    const prompt = Array.from({ length: 80 }, () => 'word').join(' ');
    const located = tokenizer.wordTokenPositions(prompt);
    expect(located[74].positions).toEqual([75]);
    expect(located[75].positions).toEqual([]);
    expect(located[79].positions).toEqual([]);
  });
});

describe('CLIPTokenizer.positionsOf', () => {
  it('collects every occurrence of the words, case-insensitively, sorted', () => {
    expect(tokenizer.positionsOf('a red tiger walking', ['Tiger'])).toEqual([3]);
    expect(tokenizer.positionsOf('a cat and a dog', ['a'])).toEqual([1, 4]);
    expect(tokenizer.positionsOf('a red tiger walking', ['red tiger', 'walking'])).toEqual([2, 3, 4]);
  });

  it('fails on a word the prompt lacks, listing the prompt\'s words', () => {
    expect(() => tokenizer.positionsOf('a red tiger', ['lion'])).toThrow(/'lion' is not a word of the prompt 'a red tiger'; its words are: 'a', 'red', 'tiger'/);
  });
});

describe('CLIPTokenizer construction', () => {
  it('fails on a vocabulary without CLIP\'s special tokens', () => {
    expect(() => CLIPTokenizer.fromVocabAndMerges({ a: 0 }, [])).toThrow(/needs 49406 and 49407/);
  });

  it('pads with 49407, not 0', () => {
    const { ids } = tokenizer.encodeForModel('a');
    expect(ids).toHaveLength(77);
    expect(ids.slice(2)).toEqual(Array.from({ length: 75 }, () => CLIP_EOS_ID));
  });
});
