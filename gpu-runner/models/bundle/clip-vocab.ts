/**
 * Which CLIP BPE vocabulary a generated (random-weight) bundle's tokenizer is built from: the file given, else
 * OpenAI's `bpe_simple_vocab_16e6.txt.gz` from the project's shared data beside the checkout, else (a fresh clone
 * without that folder) a synthetic vocabulary of the same format and size, which random weights do not mind.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from './cache-dir.ts';
import { ensureSyntheticVocab } from './synthetic-vocab.ts';

/** OpenAI's vocabulary in the shared data folder that sits beside a checkout (and CI's). */
export const SHARED_CLIP_VOCAB = resolve(REPO_ROOT, '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');

/**
 * @param explicitPath a vocabulary file the caller named: used as is (its reader reports a missing file)
 * @param cacheDir where a synthetic vocabulary is written when no OpenAI file is found
 */
export function resolveClipVocab(options: { explicitPath?: string; cacheDir: string }): string {
  if (options.explicitPath) return options.explicitPath;
  return existsSync(SHARED_CLIP_VOCAB) ? SHARED_CLIP_VOCAB : ensureSyntheticVocab(options.cacheDir);
}
