import { existsSync, readFileSync } from 'node:fs';
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

/** One entry of `clips/manifest.json`: a FateZero test clip, its facts and its prompts. */
export interface ManifestClip {
  id: string;
  file: string;
  frames: number;
  width: number;
  height: number;
  fps: number;
  first_frame: string;
  source_prompt: string;
  edits: { target_prompt: string; blend_words: [string[], string[]] | null; kind: string }[];
}

/** The test clips listed in the shared data's manifest. */
export function readClipManifest(): ManifestClip[] {
  return JSON.parse(readFileSync(resolve(CLIPS_DIR, 'manifest.json'), 'utf8')) as ManifestClip[];
}
