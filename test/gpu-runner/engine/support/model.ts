import { resolve } from 'node:path';
import { ensureTinyBundle, ensureTopologyBundle } from '../../../../gpu-runner/models/bundle/tiny.ts';
import { CLIP_BPE_GZ, REPO_ROOT } from '../../../support/paths.ts';

/** Graph/bundle cache shared by the engine tests (gitignored .cache/). */
export const ENGINE_TEST_CACHE = resolve(REPO_ROOT, '.cache/engine-tests');

/** The tiny bundle (generated once into the cache). */
export function tinyBundleDir(): string {
  return ensureTinyBundle({ cacheDir: ENGINE_TEST_CACHE, bpeVocabGzPath: CLIP_BPE_GZ });
}

/** SD1.5's block topology in miniature (128 px frames, 64x64 latents; generated once into the cache). */
export function topologyBundleDir(): string {
  return ensureTopologyBundle({ cacheDir: ENGINE_TEST_CACHE, bpeVocabGzPath: CLIP_BPE_GZ });
}
