/**
 * The tiny random-weight bundle: a complete diffusers-layout SD1.x folder small enough that an 8-frame
 * UNet call at the default working size (256 px, latents 32x32) is fast on two CPU cores, and shaped so
 * every engine feature runs (cross-attention at several resolutions, plain blocks, channel changes,
 * a scale-8 VAE, the real CLIP vocabulary). Like diffusers' dummy test components, its outputs are not
 * pictures; shapes, mechanics and determinism are real.
 */
import { join } from 'node:path';
import { SD15_MODEL_INDEX, SD15_SCHEDULER_CONFIG, writeAtomically, writeBundle, type BundleConfigs } from './bundle-writer.ts';
import { resolveCacheDir } from './cache-dir.ts';
import { SD15_TOPOLOGY_UNET_CONFIG, SD15_TOPOLOGY_VAE_CONFIG, TINY_TEXT_ENCODER_CONFIG, TINY_UNET_CONFIG, TINY_VAE_CONFIG } from './sd-configs.ts';

/** Bumped whenever the tiny configs or the weight generator change, so caches regenerate. */
export const TINY_BUNDLE_VERSION = 1;

/** The tiny bundle's configs. */
export const TINY_BUNDLE_CONFIGS: BundleConfigs = Object.freeze({
  modelIndex: SD15_MODEL_INDEX,
  scheduler: SD15_SCHEDULER_CONFIG,
  unet: TINY_UNET_CONFIG,
  vae: TINY_VAE_CONFIG,
  textEncoder: TINY_TEXT_ENCODER_CONFIG,
});

/** SD1.5's block topology in miniature (see SD15_TOPOLOGY_UNET_CONFIG): 128 px frames, 64x64 latents. */
export const SD15_TOPOLOGY_BUNDLE_CONFIGS: BundleConfigs = Object.freeze({
  ...TINY_BUNDLE_CONFIGS,
  unet: SD15_TOPOLOGY_UNET_CONFIG,
  vae: SD15_TOPOLOGY_VAE_CONFIG,
});

/** Options of the tiny bundle functions. */
export interface TinyBundleOptions {
  /** Seed of the random weights. @default 0 */
  readonly seed?: number;
  /** OpenAI's `bpe_simple_vocab_16e6.txt.gz` (the tokenizer folder is generated from it). */
  readonly bpeVocabGzPath: string;
}

function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`tiny bundle seed must be an integer in [0, 2^32); got ${seed}`);
  }
  return seed;
}

/**
 * Writes the tiny bundle into `dir`. Same seed, same bytes.
 * @example writeTinyBundle('/tmp/tiny', { seed: 0, bpeVocabGzPath: 'bpe_simple_vocab_16e6.txt.gz' })
 */
export function writeTinyBundle(dir: string, options: TinyBundleOptions): void {
  writeBundle(dir, TINY_BUNDLE_CONFIGS, { seed: checkSeed(options.seed ?? 0), bpeVocabGzPath: options.bpeVocabGzPath });
}

/**
 * The cached tiny bundle `<cacheDir>/models/tiny-<seed>-v<version>`, generated on first use (atomically).
 * @param cacheDir cache root. @default - `.cache/` under the repository root
 * @returns the bundle folder
 */
export function ensureTinyBundle(options: TinyBundleOptions & { readonly cacheDir?: string }): string {
  const seed = checkSeed(options.seed ?? 0);
  const target = join(resolveCacheDir(options.cacheDir), 'models', `tiny-${seed}-v${TINY_BUNDLE_VERSION}`);
  return writeAtomically(target, (tmp) => writeTinyBundle(tmp, { ...options, seed }));
}

/**
 * The cached SD1.5-topology bundle `<cacheDir>/models/sd15-topology-<seed>-v<version>`, generated on first use.
 * @returns the bundle folder
 */
export function ensureTopologyBundle(options: TinyBundleOptions & { readonly cacheDir?: string }): string {
  const seed = checkSeed(options.seed ?? 0);
  const target = join(resolveCacheDir(options.cacheDir), 'models', `sd15-topology-${seed}-v${TINY_BUNDLE_VERSION}`);
  return writeAtomically(target, (tmp) => writeBundle(tmp, SD15_TOPOLOGY_BUNDLE_CONFIGS, { seed, bpeVocabGzPath: options.bpeVocabGzPath }));
}
