/**
 * A stand-in for OpenAI's `bpe_simple_vocab_16e6.txt.gz` when that file is not on the machine (a fresh clone
 * without the project's shared data). The tiny bundle's weights are random, so its tokenizer needs only the
 * right format and size, not OpenAI's merges: this writes the same number of merges (48,894) in the same file
 * format, built from lowercase letter strings (each merge joins a string's prefix with its last letter, with and
 * without the end-of-word marker), so every prompt still tokenizes deterministically into 77 ids.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const MERGES = 48_894;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

function* letterStrings(length: number, prefix = ''): Generator<string> {
  if (prefix.length === length) {
    yield prefix;
    return;
  }
  for (const letter of LETTERS) yield* letterStrings(length, prefix + letter);
}

export function syntheticMerges(count = MERGES): string[] {
  const merges: string[] = [];
  for (let length = 2; merges.length < count; length++) {
    for (const word of letterStrings(length)) {
      const head = word.slice(0, -1);
      const last = word.slice(-1);
      merges.push(`${head} ${last}`, `${head} ${last}</w>`);
      if (merges.length >= count) break;
    }
  }
  return merges.slice(0, count);
}

/** Writes the synthetic vocabulary (once) under `cacheDir` and returns its path. */
export function ensureSyntheticVocab(cacheDir: string): string {
  const path = join(cacheDir, 'clip', 'synthetic_bpe_16e6.txt.gz');
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const text = ['#version: synthetic (not OpenAI CLIP; for random-weight test models only)', ...syntheticMerges()].join('\n');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, gzipSync(text));
  renameSync(tmp, path);
  return path;
}
