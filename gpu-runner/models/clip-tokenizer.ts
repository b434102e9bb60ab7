import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { bytePairMerge, END_OF_WORD } from './tokenizer/bpe.ts';
import { BYTE_SYMBOLS_IN_VOCAB_ORDER, fromByteSymbols, toByteSymbols } from './tokenizer/byte-symbols.ts';
import { cleanPromptText, CLIP_SPECIAL_TOKEN_SPLIT, promptWords } from '../../shared/prompt-text.ts';

/** CLIP's special tokens and sequence layout for SD 1.x (BOS, at most 75 tokens, EOS, padded with EOS to 77). */
export const CLIP_BOS_ID = 49406;
export const CLIP_EOS_ID = 49407;
export const CLIP_MAX_LENGTH = 77;
const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';
/** Merges OpenAI's vocabulary uses: 49152 − 256 byte symbols − 2 special tokens (lines 1..48894 of the file). */
const OPENAI_MERGE_COUNT = 49152 - 256 - 2;
/** Pre-tokens whose BPE result is kept; a long-running worker sees many prompts, so the cache is bounded. */
const MAX_CACHED_WORDS = 50_000;

// transformers' CLIP pre-tokenizer: special tokens, English contractions, letter runs, single digits, runs of
// everything else. Unicode White_Space stands for the `regex` module's \s.
const PRE_TOKEN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;
const utf8 = new TextEncoder();

function utf8Length(text: string): number {
  return utf8.encode(text).length;
}

/** The 77 ids an SD 1.x text encoder takes, and whether the prompt lost tokens to fit. */
export interface ModelInput {
  readonly ids: number[];
  readonly truncated: boolean;
}

/** Where one word of a prompt sits in the 77-id sequence. */
export interface WordPositions {
  /** The word after cleanup (lowercased, ftfy-fixed), as split on spaces. */
  readonly word: string;
  /** Positions in the model input (BOS is position 0); empty when the word was truncated away. */
  readonly positions: number[];
}

/**
 * CLIP's byte-level BPE tokenizer, giving the ids of transformers' `CLIPTokenizer` with ftfy installed (what SD
 * pipelines feed the text encoder) and of OpenAI's `SimpleTokenizer` (they differ only for HTML entities in text
 * that also contains '<').
 * @example
 * const tokenizer = CLIPTokenizer.fromFiles(`${dir}/tokenizer/vocab.json`, `${dir}/tokenizer/merges.txt`);
 * tokenizer.encodeForModel('a red tiger walking').ids // [49406, 320, 736, 6531, 3941, 49407, 49407, …] (77)
 */
export class CLIPTokenizer {
  private readonly decoder: Map<number, string>;
  private readonly cache = new Map<string, number[]>();

  /**
   * @param vocab token → id (vocab.json).
   * @param merges merge pairs in rank order (merges.txt without its `#version` line).
   * @throws when the vocabulary lacks the special tokens at 49406/49407.
   */
  constructor(private readonly vocab: ReadonlyMap<string, number>, private readonly ranks: ReadonlyMap<string, number>) {
    if (vocab.get(BOS) !== CLIP_BOS_ID || vocab.get(EOS) !== CLIP_EOS_ID) {
      throw new Error(`The vocabulary maps ${BOS} to ${vocab.get(BOS)} and ${EOS} to ${vocab.get(EOS)}; CLIP needs ${CLIP_BOS_ID} and ${CLIP_EOS_ID}. Is this a CLIP tokenizer?`);
    }
    this.decoder = new Map([...vocab].map(([token, id]) => [id, token]));
  }

  /** Builds from token → id and the merge list (pairs as `"left right"` strings, rank order). */
  static fromVocabAndMerges(vocab: Record<string, number> | ReadonlyMap<string, number>, merges: readonly string[]): CLIPTokenizer {
    const vocabMap = vocab instanceof Map ? vocab : new Map(Object.entries(vocab));
    return new CLIPTokenizer(vocabMap, new Map(merges.map((pair, rank) => [pair, rank])));
  }

  /**
   * Loads a diffusers model folder's `tokenizer/vocab.json` and `tokenizer/merges.txt`.
   * @throws when a file is missing or vocab.json is not a token → id object.
   */
  static fromFiles(vocabJsonPath: string, mergesPath: string): CLIPTokenizer {
    const vocab = JSON.parse(readFileSync(vocabJsonPath, 'utf8')) as unknown;
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
      throw new Error(`${vocabJsonPath} should hold an object of token → id; got ${Array.isArray(vocab) ? 'an array' : typeof vocab}.`);
    }
    const lines = readFileSync(mergesPath, 'utf8').split('\n');
    const merges = lines.filter((line, i) => line.length > 0 && !(i === 0 && line.startsWith('#version')));
    return CLIPTokenizer.fromVocabAndMerges(vocab as Record<string, number>, merges);
  }

  /**
   * Builds the same vocabulary from OpenAI's `bpe_simple_vocab_16e6.txt.gz`: the 256 byte symbols, their `</w>`
   * forms, one token per merge of lines 1..48894, then the two special tokens (ids 49406, 49407).
   */
  static fromOpenAIBpeGz(gzPath: string): CLIPTokenizer {
    const lines = gunzipSync(readFileSync(gzPath)).toString('utf8').split('\n');
    const merges = lines.slice(1, OPENAI_MERGE_COUNT + 1);
    if (merges.length !== OPENAI_MERGE_COUNT) {
      throw new Error(`${gzPath} has ${merges.length} merge lines after its header; OpenAI's CLIP vocabulary has ${OPENAI_MERGE_COUNT}.`);
    }
    const tokens = [...BYTE_SYMBOLS_IN_VOCAB_ORDER, ...BYTE_SYMBOLS_IN_VOCAB_ORDER.map((s) => s + END_OF_WORD), ...merges.map((pair) => pair.replace(' ', '')), BOS, EOS];
    return CLIPTokenizer.fromVocabAndMerges(new Map(tokens.map((token, id) => [token, id])), merges);
  }

  /** Vocabulary size (49408 for CLIP). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The ids of a prompt without BOS/EOS and without truncation. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of text.split(CLIP_SPECIAL_TOKEN_SPLIT)) {
      if (piece === BOS) ids.push(CLIP_BOS_ID);
      else if (piece === EOS) ids.push(CLIP_EOS_ID);
      else for (const word of cleanPromptText(piece).match(PRE_TOKEN) ?? []) ids.push(...this.wordIds(word));
    }
    return ids;
  }

  /** BOS + the first 75 ids + EOS, padded with EOS (49407) to 77, as SD 1.x pipelines do. */
  encodeForModel(text: string): ModelInput {
    const ids = this.encode(text);
    const room = CLIP_MAX_LENGTH - 2;
    const body = ids.slice(0, room);
    const padded = [CLIP_BOS_ID, ...body, CLIP_EOS_ID];
    while (padded.length < CLIP_MAX_LENGTH) padded.push(CLIP_EOS_ID);
    return { ids: padded, truncated: ids.length > room };
  }

  /** The vocabulary entry of an id (`"tiger</w>"`). @throws on an id outside the vocabulary. */
  tokenOf(id: number): string {
    const token = this.decoder.get(id);
    if (token === undefined) throw new Error(`Token id ${id} is not in the vocabulary (0..${this.vocab.size - 1}).`);
    return token;
  }

  /**
   * The text of one token, `</w>` dropped (transformers' `decode([id]).strip()`); a token holding part of a
   * multi-byte character decodes to U+FFFD.
   */
  decodeToken(id: number): string {
    return this.decode([id]);
  }

  /** The text of a token sequence: the tokens' bytes as UTF-8 (U+FFFD where invalid), `</w>` → space, trimmed. */
  decode(ids: readonly number[]): string {
    const bytes = fromByteSymbols(ids.map((id) => this.tokenOf(id)).join(''));
    return new TextDecoder().decode(bytes).replaceAll(END_OF_WORD, ' ').trim();
  }

  /**
   * For each space-separated word of the cleaned prompt, its positions in {@link encodeForModel}'s ids (BOS
   * included, so the first word starts at 1): prompt-to-prompt's `get_word_inds` walk, which gives tokens to a
   * word until their lengths cover it. Lengths are counted in UTF-8 bytes, which equals prompt-to-prompt's
   * character count for ASCII and stays right when a token holds part of a character ('tiger,' → 'tiger', ',').
   * @example tokenizer.wordTokenPositions('a red tiger') // [{ word: 'a', positions: [1] }, { word: 'red', positions: [2] }, …]
   */
  wordTokenPositions(prompt: string): WordPositions[] {
    const ids = this.encode(prompt);
    const words = promptWords(prompt);
    const result: WordPositions[] = [];
    let next = 0;
    for (const word of words) {
      const need = utf8Length(word);
      const positions: number[] = [];
      let covered = 0;
      while (covered < need && next < ids.length) {
        covered += fromByteSymbols(this.tokenOf(ids[next]).replace(END_OF_WORD, '')).length;
        // Position 0 is BOS; ids past the 75 that fit are truncated away.
        if (next < CLIP_MAX_LENGTH - 2) positions.push(next + 1);
        next++;
      }
      if (covered !== need) {
        throw new Error(`Internal: the tokens of '${word}' in '${prompt}' cover ${covered} bytes instead of ${need}; please report this prompt.`);
      }
      result.push({ word, positions });
    }
    return result;
  }

  /**
   * The positions (sorted, no duplicates) of every occurrence of the given words in the prompt; each entry may
   * hold several words ("red tiger"). Words are cleaned like the prompt, so case does not matter.
   * @throws when a word does not occur in the prompt, listing the prompt's words.
   * @example tokenizer.positionsOf('a red tiger walking', ['tiger']) // [3]
   */
  positionsOf(prompt: string, words: readonly string[]): number[] {
    const located = this.wordTokenPositions(prompt);
    const positions = new Set<number>();
    for (const wanted of words.flatMap((w) => promptWords(w))) {
      const matches = located.filter((entry) => entry.word === wanted);
      if (matches.length === 0) {
        throw new Error(`'${wanted}' is not a word of the prompt '${prompt}'; its words are: ${located.map((e) => `'${e.word}'`).join(', ')}.`);
      }
      for (const match of matches) for (const p of match.positions) positions.add(p);
    }
    return [...positions].sort((a, b) => a - b);
  }

  private wordIds(word: string): number[] {
    if (word === BOS) return [CLIP_BOS_ID];
    if (word === EOS) return [CLIP_EOS_ID];
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const ids = bytePairMerge(toByteSymbols(word), this.ranks).map((token) => this.vocab.get(token) ?? CLIP_EOS_ID);
    if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }
}
