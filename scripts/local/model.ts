/** The model a local worker runs: OCD_MODEL_DIR when set, else the tiny bundle (generated once into the cache). */
import { resolveClipVocab } from '../../gpu-runner/models/bundle/clip-vocab.ts';
import { ensureTinyBundle } from '../../gpu-runner/models/bundle/tiny.ts';
import type { LocalPaths } from './settings.ts';

export function localModelDir(paths: LocalPaths): string {
  if (process.env.OCD_MODEL_DIR) return process.env.OCD_MODEL_DIR;
  const bpeVocabGzPath = resolveClipVocab({ explicitPath: process.env.OCD_CLIP_BPE_PATH });
  return ensureTinyBundle({ seed: 0, cacheDir: paths.cache, bpeVocabGzPath });
}
