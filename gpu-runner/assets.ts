/**
 * Data files that ship in the repository (`assets/`, origins and licences in `assets/README.md`): OpenAI's CLIP BPE
 * vocabulary, which generated bundles build their tokenizer from, and the FateZero test clips that the local stack's
 * sample, the benchmark and the tests edit.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is gpu-runner/assets.ts). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const ASSETS_DIR = resolve(REPO_ROOT, 'assets');
/** OpenAI's `bpe_simple_vocab_16e6.txt.gz` (MIT). */
export const CLIP_VOCAB_GZ = resolve(ASSETS_DIR, 'clip/bpe_simple_vocab_16e6.txt.gz');
/** The FateZero test clips with `manifest.json`. */
export const CLIPS_DIR = resolve(ASSETS_DIR, 'clips');
