/**
 * A random-weight bundle with Stable Diffusion 1.5's exact configs (860M-parameter UNet, ~4.3 GB on disk),
 * for benchmarks at full scale without downloading a checkpoint. Generated on demand, never committed.
 */
import { join } from 'node:path';
import { SD15_MODEL_INDEX, SD15_SCHEDULER_CONFIG, writeAtomically, writeBundle, type BundleConfigs } from './bundle-writer.ts';
import { resolveCacheDir } from './cache-dir.ts';
import { SD15_TEXT_ENCODER_CONFIG, SD15_UNET_CONFIG, SD15_VAE_CONFIG } from './sd-configs.ts';

/** SD1.5's configs. */
export const SD15_BUNDLE_CONFIGS: BundleConfigs = Object.freeze({
  modelIndex: SD15_MODEL_INDEX,
  scheduler: SD15_SCHEDULER_CONFIG,
  unet: SD15_UNET_CONFIG,
  vae: SD15_VAE_CONFIG,
  textEncoder: SD15_TEXT_ENCODER_CONFIG,
});

/** Options of the SD1.5-scale generator. */
export interface RandomSD15Options {
  /** @default 0 */
  readonly seed?: number;
  /** OpenAI's `bpe_simple_vocab_16e6.txt.gz`. */
  readonly bpeVocabGzPath: string;
}

/** Writes an SD1.5-config bundle with seeded random weights into `dir` (minutes, ~4.3 GB). */
export function writeRandomSD15Bundle(dir: string, options: RandomSD15Options): void {
  writeBundle(dir, SD15_BUNDLE_CONFIGS, { seed: options.seed ?? 0, bpeVocabGzPath: options.bpeVocabGzPath });
}

/** The cached bundle `<cacheDir>/models/sd15-random-<seed>`, generated on first use (atomically). */
export function ensureRandomSD15Bundle(options: RandomSD15Options & { readonly cacheDir?: string }): string {
  const seed = options.seed ?? 0;
  const target = join(resolveCacheDir(options.cacheDir), 'models', `sd15-random-${seed}`);
  return writeAtomically(target, (tmp) => writeRandomSD15Bundle(tmp, { ...options, seed }));
}
