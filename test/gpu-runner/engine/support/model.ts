import { resolve } from 'node:path';
import { writeAtomically, writeControlNetFolder } from '../../../../gpu-runner/models/bundle/bundle-writer.ts';
import { TINY_CONTROLNET_CONFIG } from '../../../../gpu-runner/models/bundle/sd-configs.ts';
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

/** A random ControlNet for the tiny bundle's UNet (generated once into the cache). */
export function tinyControlNetDir(): string {
  return writeAtomically(resolve(ENGINE_TEST_CACHE, 'models/tiny-controlnet-0'), (tmp) => writeControlNetFolder(tmp, TINY_CONTROLNET_CONFIG, { seed: 0 }));
}
