/**
 * Writes a CLIP tokenizer folder (`vocab.json`, `merges.txt`, `tokenizer_config.json`,
 * `special_tokens_map.json`) from OpenAI's `bpe_simple_vocab_16e6.txt.gz`, in the layout transformers'
 * CLIPTokenizer (and ours) read. Facts from reference-algorithms.md §5.4: 48894 merges, vocab = byte
 * symbols, their `</w>` forms, the merged symbols, then the two specials.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ModelLoadError } from '../weights.ts';

/** 49152 - 256 - 2: the merges CLIP uses out of the file's 262144. */
export const CLIP_MERGE_COUNT = 48894;
export const CLIP_VOCAB_SIZE = 49408;

/** The byte -> printable-character table GPT-2/CLIP BPE use, in its canonical order. */
export function byteSymbols(): string[] {
  const bytes: number[] = [];
  const ranges: Array<[number, number]> = [[0x21, 0x7e], [0xa1, 0xac], [0xae, 0xff]];
  for (const [from, to] of ranges) for (let b = from; b <= to; b++) bytes.push(b);
  const codes = [...bytes];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      codes.push(256 + extra++);
    }
  }
  return codes.map((c) => String.fromCodePoint(c));
}

/** Python `json.dump(obj, ensure_ascii=False)` layout of a flat string -> int map, for byte-compatible files. */
function pythonStyleJson(entries: ReadonlyArray<[string, number]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`;
}

const SPECIAL_TOKEN = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });

/** SD1.5's (openai/clip-vit-large-patch14) tokenizer settings. */
const TOKENIZER_CONFIG = {
  add_prefix_space: false,
  bos_token: { __type: 'AddedToken', ...SPECIAL_TOKEN('<|startoftext|>') },
  do_lower_case: true,
  eos_token: { __type: 'AddedToken', ...SPECIAL_TOKEN('<|endoftext|>') },
  errors: 'replace',
  model_max_length: 77,
  name_or_path: 'openai/clip-vit-large-patch14',
  pad_token: '<|endoftext|>',
  special_tokens_map_file: './special_tokens_map.json',
  tokenizer_class: 'CLIPTokenizer',
  unk_token: { __type: 'AddedToken', ...SPECIAL_TOKEN('<|endoftext|>') },
};
const SPECIAL_TOKENS_MAP = {
  bos_token: SPECIAL_TOKEN('<|startoftext|>'),
  eos_token: SPECIAL_TOKEN('<|endoftext|>'),
  pad_token: '<|endoftext|>',
  unk_token: SPECIAL_TOKEN('<|endoftext|>'),
};

/**
 * Writes the tokenizer folder `dir` from the BPE vocabulary at `bpeVocabGzPath`.
 *
 * @throws ModelLoadError when the vocabulary file is missing or has fewer merges than CLIP needs.
 */
export function writeTokenizerFiles(dir: string, bpeVocabGzPath: string): void {
  let lines: string[];
  try {
    lines = gunzipSync(readFileSync(bpeVocabGzPath)).toString('utf8').split('\n');
  } catch (error) {
    throw new ModelLoadError(`cannot read the CLIP BPE vocabulary ${bpeVocabGzPath}: ${(error as Error).message}`);
  }
  // Line 0 is a version header; CLIP uses the next 48894 lines.
  const merges = lines.slice(1, 1 + CLIP_MERGE_COUNT);
  if (merges.length !== CLIP_MERGE_COUNT || merges.some((m) => m.split(' ').length !== 2)) {
    throw new ModelLoadError(`${bpeVocabGzPath}: expected at least ${CLIP_MERGE_COUNT} merge lines of two symbols; is this bpe_simple_vocab_16e6.txt.gz?`);
  }
  const symbols = byteSymbols();
  const tokens = [...symbols, ...symbols.map((s) => `${s}</w>`), ...merges.map((m) => m.replace(' ', '')), '<|startoftext|>', '<|endoftext|>'];
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'vocab.json'), pythonStyleJson(tokens.map((t, id) => [t, id])));
  writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${merges.map((m) => `${m}\n`).join('')}`);
  writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify(TOKENIZER_CONFIG, null, 2)}\n`);
  writeFileSync(join(dir, 'special_tokens_map.json'), `${JSON.stringify(SPECIAL_TOKENS_MAP, null, 2)}\n`);
}
