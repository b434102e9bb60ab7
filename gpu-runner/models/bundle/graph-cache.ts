/**
 * Cache of built ONNX graphs. A graph is keyed by what determines its bytes: the weight file (size and
 * mtime, cheap to stat; a hash of a 3.4 GB file would cost more than some builds), the builder version,
 * and the graph variant (component, options such as fp16 storage or attention hooks). A build runs into
 * a temp folder that is renamed into place, so a crashed build never leaves a half-written graph.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** What a cached graph depends on. */
export interface GraphCacheKey {
  /** e.g. 'unet', 'vae_decoder'; also the .onnx file name. */
  readonly component: string;
  /** From `weightsFingerprint`. */
  readonly weights: string;
  /** Bump when a builder's output changes for the same inputs. */
  readonly builderVersion: string;
  /** Graph options, serialized stably (e.g. `{"weightStorage":"float32","frames":8}`). */
  readonly variant: string;
}

/** A fingerprint of weight files from their paths, sizes and modification times (no data read). */
export function weightsFingerprint(paths: readonly string[]): string {
  const hash = createHash('sha256');
  for (const path of paths) {
    const stat = statSync(path);
    hash.update(`${path}\u0000${stat.size}\u0000${stat.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** The folder a key's graph lives in: `<cacheDir>/graphs/<component>-<hash>`. */
export function graphCacheFolder(cacheDir: string, key: GraphCacheKey): string {
  const hash = createHash('sha256').update(JSON.stringify([key.component, key.weights, key.builderVersion, key.variant])).digest('hex');
  return join(cacheDir, 'graphs', `${basename(key.component)}-${hash.slice(0, 16)}`);
}

/** Outcome of `cachedGraph`. */
export interface CachedGraph {
  /** The .onnx file (its external data sits beside it). */
  readonly path: string;
  /** True when this call built it. */
  readonly built: boolean;
}

/**
 * Returns the cached graph for `key`, building it with `build(tmpDir)` when absent. `build` writes
 * `<tmpDir>/<component>.onnx` (and any `.onnx.data`).
 *
 * @throws Error when `build` does not produce the .onnx file, or whatever `build` throws.
 */
export async function cachedGraph(cacheDir: string, key: GraphCacheKey, build: (tmpDir: string) => unknown): Promise<CachedGraph> {
  const folder = graphCacheFolder(cacheDir, key);
  const fileName = `${basename(key.component)}.onnx`;
  const path = join(folder, fileName);
  if (existsSync(path)) return { path, built: false };
  const tmp = `${folder}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    if (!existsSync(join(tmp, fileName))) throw new Error(`graph build for '${key.component}' wrote no ${fileName} into ${tmp}`);
    writeFileSync(join(tmp, 'key.json'), `${JSON.stringify(key, null, 2)}\n`);
    renameSync(tmp, folder);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(path)) return { path, built: false };
    throw error;
  }
  return { path, built: true };
}
