import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in test/support/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The read-only design/data folder that sits beside the repository (also in CI). */
export const SHARED_DIR = process.env.OCD_SHARED_DIR ?? resolve(REPO_ROOT, '../shared');

/** diffusers/transformers/tomesd outputs for the tiny reference model: our numerical ground truth. */
export const REFERENCE_DIR = resolve(SHARED_DIR, 'data/reference');
export const REFERENCE_MODEL_DIR = resolve(REFERENCE_DIR, 'tiny-sd');
export const REFERENCE_CASES_DIR = resolve(REFERENCE_DIR, 'cases');
export const CLIPS_DIR = resolve(SHARED_DIR, 'data/clips');
export const CLIP_BPE_GZ = resolve(SHARED_DIR, 'data/clip/bpe_simple_vocab_16e6.txt.gz');

if (!existsSync(REFERENCE_DIR)) {
  throw new Error(`The reference data folder is missing: expected ${REFERENCE_DIR} (set OCD_SHARED_DIR to the shared/ folder).`);
}
