/**
 * Where the model folder comes from: `OCD_MODEL_DIR` as is, or `OCD_MODEL_URI` (an S3 prefix holding a
 * diffusers folder) downloaded once per instance into the local cache.
 *
 * The download is safe against crashes and concurrent workers: files go to a temporary folder, each is checked
 * (size, and MD5 against the ETag where S3 gives a plain MD5), and only a complete, checked folder is renamed
 * into place. The cache entry's name hashes the listing (keys, sizes, ETags), so a changed model downloads anew.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import type { Logger } from './logger.ts';

/** The model cannot be had; jobs cannot run on this worker (`model_unavailable`). */
export class ModelUnavailableError extends Error {
  readonly code = 'model_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'ModelUnavailableError';
  }
}

/** Marks a finished, checked download; a folder without it is never used. */
export const DOWNLOAD_MARKER = '.ocd-download.json';

export interface ModelSourceOptions {
  modelDir?: string;
  modelUri?: string;
  cacheDir: string;
  s3: S3Client;
  logger: Logger;
}

/**
 * The local model folder to load.
 * @throws ModelUnavailableError when neither source is set, the folder is not a diffusers folder, or the
 *   download fails its checks.
 */
export async function resolveModelDir(options: ModelSourceOptions): Promise<string> {
  if (options.modelDir) {
    const dir = resolve(options.modelDir);
    if (!existsSync(join(dir, 'model_index.json'))) {
      throw new ModelUnavailableError(`OCD_MODEL_DIR=${options.modelDir} has no model_index.json; point it at a Stable Diffusion 1.x folder in the diffusers layout.`);
    }
    return dir;
  }
  if (options.modelUri) return downloadModel(options.modelUri, options);
  throw new ModelUnavailableError('No model configured: set OCD_MODEL_DIR (a local diffusers folder) or OCD_MODEL_URI (s3://bucket/prefix/ of one).');
}

/** Split `s3://bucket/prefix` into its parts; the prefix always ends with '/' (or is empty). */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new ModelUnavailableError(`OCD_MODEL_URI=${uri} is not an S3 URI; expected s3://bucket/prefix/.`);
  const prefix = match[2] === '' || match[2].endsWith('/') ? match[2] : `${match[2]}/`;
  return { bucket: match[1], prefix };
}

async function downloadModel(uri: string, options: ModelSourceOptions): Promise<string> {
  const { bucket, prefix } = parseS3Uri(uri);
  const { s3, logger } = options;
  const objects = await listAll(s3, bucket, prefix);
  const files = objects.filter((o) => o.Key && !o.Key.endsWith('/'));
  if (!files.some((o) => o.Key === `${prefix}model_index.json`)) {
    throw new ModelUnavailableError(`${uri} holds no model_index.json (${files.length} objects found); upload a diffusers folder there.`);
  }
  const identity = createHash('sha256').update(uri);
  for (const o of [...files].sort((a, b) => (a.Key! < b.Key! ? -1 : 1))) identity.update(`\n${o.Key} ${o.Size} ${o.ETag}`);
  const cacheRoot = resolve(options.cacheDir);
  const target = join(cacheRoot, `s3-${identity.digest('hex').slice(0, 24)}`);
  if (existsSync(join(target, DOWNLOAD_MARKER))) {
    logger.info('model found in the local cache', { uri, dir: target });
    return target;
  }
  await mkdir(cacheRoot, { recursive: true });
  const tmp = join(cacheRoot, `.tmp-${randomBytes(6).toString('hex')}`);
  const started = Date.now();
  try {
    let bytes = 0;
    for (const object of files) {
      const rel = object.Key!.slice(prefix.length);
      const path = join(tmp, rel);
      // Keys like "../x" must not escape the folder.
      if (relative(tmp, path).startsWith('..') || relative(tmp, path).split(sep).includes('..')) {
        throw new ModelUnavailableError(`model object ${object.Key} would be written outside the cache folder`);
      }
      await mkdir(dirname(path), { recursive: true });
      const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      await pipeline(result.Body as Readable, createWriteStream(path));
      await verifyFile(path, object);
      bytes += object.Size ?? 0;
    }
    await writeFile(join(tmp, DOWNLOAD_MARKER), JSON.stringify({ uri, files: files.length, bytes, downloadedAt: new Date().toISOString() }));
    try {
      await rename(tmp, target);
    } catch (error) {
      // Another worker on this instance finished first: use its copy.
      if (!existsSync(join(target, DOWNLOAD_MARKER))) throw error;
      await rm(tmp, { recursive: true, force: true });
    }
    logger.info('model downloaded', { uri, dir: target, files: files.length, bytes, ms: Date.now() - started });
    return target;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    if (error instanceof ModelUnavailableError) throw error;
    throw new ModelUnavailableError(`Downloading the model from ${uri} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    objects.push(...(page.Contents ?? []));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/** Size always; MD5 when the ETag is one (single-part uploads: 32 hex digits, no "-N" part count). */
async function verifyFile(path: string, object: _Object): Promise<void> {
  const { size } = await stat(path);
  if (object.Size !== undefined && size !== object.Size) {
    throw new ModelUnavailableError(`model file ${object.Key} is ${size} bytes after download, but S3 lists ${object.Size}`);
  }
  const etag = (object.ETag ?? '').replaceAll('"', '');
  if (/^[0-9a-f]{32}$/.test(etag)) {
    const hash = createHash('md5');
    await pipeline(createReadStream(path), hash);
    const md5 = hash.digest('hex');
    if (md5 !== etag) throw new ModelUnavailableError(`model file ${object.Key} has MD5 ${md5} after download, but its ETag is ${etag}`);
  }
}
