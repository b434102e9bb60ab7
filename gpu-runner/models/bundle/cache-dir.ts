/** Where generated bundles and built graphs are cached. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is gpu-runner/models/bundle/cache-dir.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The cache root: `cacheDir` when given (the caller passes `OCD_CACHE_DIR` from configuration),
 * else `.cache/` under the repository root.
 */
export function resolveCacheDir(cacheDir?: string): string {
  return cacheDir ? resolve(cacheDir) : resolve(REPO_ROOT, '.cache');
}
