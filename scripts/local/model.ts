/** The model a local worker runs: OCD_MODEL_DIR when set, else the tiny bundle (generated once into the cache). */
import { ensureTinyBundle } from '../../gpu-runner/models/bundle/tiny.ts';
import { clipVocabPath } from './processes.ts';
import type { LocalPaths } from './settings.ts';
import { ensureSyntheticVocab } from './synthetic-vocab.ts';

export function localModelDir(paths: LocalPaths): string {
  if (process.env.OCD_MODEL_DIR) return process.env.OCD_MODEL_DIR;
  // The tiny bundle's weights are random: without OpenAI's vocabulary file, a synthetic one of the same format works.
  const vocab = clipVocabPath() ?? ensureSyntheticVocab(paths.cache);
  return ensureTinyBundle({ seed: 0, cacheDir: paths.cache, bpeVocabGzPath: vocab });
}
