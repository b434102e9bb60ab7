import { readFileSync } from 'node:fs';
import { CLIP_VOCAB_GZ, CLIPS_DIR } from '../../gpu-runner/assets.ts';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in test/support/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * diffusers/transformers/tomesd/OpenCV/FateZero outputs for the tiny reference model: our numerical ground truth.
 * In the repository (test/fixtures/reference, origins in its README), so a clone with nothing beside it tests.
 */
export const REFERENCE_DIR = resolve(REPO_ROOT, 'test/fixtures/reference');
export const REFERENCE_MODEL_DIR = resolve(REFERENCE_DIR, 'tiny-sd');
export const REFERENCE_CASES_DIR = resolve(REFERENCE_DIR, 'cases');
export const CONTROLNET_DIR = resolve(REFERENCE_DIR, 'controlnet');
export const CONTROL_CASES_DIR = resolve(REFERENCE_DIR, 'control-cases');
export const FATEZERO_CASES_DIR = resolve(REFERENCE_DIR, 'fatezero-cases');
/** The FateZero clips and OpenAI's CLIP vocabulary ship with the product (assets/). */
export { CLIPS_DIR, CLIP_VOCAB_GZ as CLIP_BPE_GZ };

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

/** The test clips listed in the clips' manifest. */
export function readClipManifest(): ManifestClip[] {
  return JSON.parse(readFileSync(resolve(CLIPS_DIR, 'manifest.json'), 'utf8')) as ManifestClip[];
}
