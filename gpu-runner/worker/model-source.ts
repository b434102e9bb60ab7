/**
 * Where the model folder comes from: `OCD_MODEL_DIR` as is, or `OCD_MODEL_URI` (an S3 prefix holding a
 * diffusers folder) downloaded once per instance into the local cache. The ControlVideo editor's ControlNet folder
 * (`OCD_CONTROLNET_DIR` / `OCD_CONTROLNET_URI`) comes the same way.
 *
 * The download is safe against crashes and concurrent workers: files go to a temporary folder, each is checked
 * (size, and MD5 against the ETag where S3 gives a plain MD5), and only a complete, checked folder is renamed
 * into place. The cache entry's name hashes the listing (keys, sizes, ETags), so a changed model downloads anew.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** The ControlNet folder cannot be had or is not a ControlNet; ControlVideo jobs fail with `controlnet_invalid`. */
export class ControlNetUnavailableError extends Error {
  readonly code = 'controlnet_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'ControlNetUnavailableError';
  }
}

/** What a downloaded folder must hold, and how its failures are reported. */
interface FolderKind {
  /** The file that marks the folder (at its top level). */
  index: string;
  what: string;
  fail: (message: string) => Error;
}

const MODEL_FOLDER: FolderKind = { index: 'model_index.json', what: 'model', fail: (message) => new ModelUnavailableError(message) };
const CONTROLNET_FOLDER: FolderKind = { index: 'config.json', what: 'ControlNet', fail: (message) => new ControlNetUnavailableError(message) };

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
  if (options.modelUri) return downloadFolder(options.modelUri, options, MODEL_FOLDER);
  throw new ModelUnavailableError('No model configured: set OCD_MODEL_DIR (a local diffusers folder) or OCD_MODEL_URI (s3://bucket/prefix/ of one).');
}

export interface ControlNetSourceOptions {
  controlnetDir?: string;
  controlnetUri?: string;
  cacheDir: string;
  s3: S3Client;
  logger: Logger;
}

/**
 * The local ControlNet folder for the ControlVideo editor, or undefined when none is configured (ControlVideo jobs
 * then fail with `controlnet_missing`; the API refuses them before that).
 * @throws ControlNetUnavailableError when the folder is not a diffusers ControlNetModel folder or its download fails.
 */
export async function resolveControlNetDir(options: ControlNetSourceOptions): Promise<string | undefined> {
  let dir: string;
  if (options.controlnetDir) {
    dir = resolve(options.controlnetDir);
    if (!existsSync(join(dir, CONTROLNET_FOLDER.index))) {
      throw new ControlNetUnavailableError(`OCD_CONTROLNET_DIR=${options.controlnetDir} has no config.json; point it at a diffusers ControlNetModel folder (config.json + diffusion_pytorch_model.safetensors).`);
    }
  } else if (options.controlnetUri) {
    dir = await downloadFolder(options.controlnetUri, options, CONTROLNET_FOLDER);
  } else {
    return undefined;
  }
  await checkControlNetConfig(dir);
  return dir;
}

/** A folder whose config.json names another diffusers class (a UNet, a VAE) is refused before any job runs. */
async function checkControlNetConfig(dir: string): Promise<void> {
  let config: { _class_name?: unknown };
  try {
    config = JSON.parse(await readFile(join(dir, CONTROLNET_FOLDER.index), 'utf8')) as { _class_name?: unknown };
  } catch (error) {
    throw new ControlNetUnavailableError(`The ControlNet folder's config.json is not JSON: ${(error as Error).message}`);
  }
  if (config._class_name !== undefined && config._class_name !== 'ControlNetModel') {
    throw new ControlNetUnavailableError(`The ControlNet folder's config.json describes a ${String(config._class_name)}, not a ControlNetModel; point it at a ControlNet such as an SD1.5 canny ControlNet.`);
  }
}

/** Split `s3://bucket/prefix` into its parts; the prefix always ends with '/' (or is empty). */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new ModelUnavailableError(`OCD_MODEL_URI=${uri} is not an S3 URI; expected s3://bucket/prefix/.`);
  const prefix = match[2] === '' || match[2].endsWith('/') ? match[2] : `${match[2]}/`;
  return { bucket: match[1], prefix };
}

async function downloadFolder(uri: string, options: { cacheDir: string; s3: S3Client; logger: Logger }, kind: FolderKind): Promise<string> {
  const { bucket, prefix } = parseS3Uri(uri);
  const { s3, logger } = options;
  const objects = await listAll(s3, bucket, prefix);
  const files = objects.filter((o) => o.Key && !o.Key.endsWith('/'));
  if (!files.some((o) => o.Key === `${prefix}${kind.index}`)) {
    throw kind.fail(`${uri} holds no ${kind.index} (${files.length} objects found); upload a diffusers ${kind.what} folder there.`);
  }
  const identity = createHash('sha256').update(uri);
  for (const o of [...files].sort((a, b) => (a.Key! < b.Key! ? -1 : 1))) identity.update(`\n${o.Key} ${o.Size} ${o.ETag}`);
  const cacheRoot = resolve(options.cacheDir);
  const target = join(cacheRoot, `s3-${identity.digest('hex').slice(0, 24)}`);
  if (existsSync(join(target, DOWNLOAD_MARKER))) {
    logger.info(`${kind.what} found in the local cache`, { uri, dir: target });
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
        throw kind.fail(`${kind.what} object ${object.Key} would be written outside the cache folder`);
      }
      await mkdir(dirname(path), { recursive: true });
      const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      await pipeline(result.Body as Readable, createWriteStream(path));
      await verifyFile(path, object, kind);
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
    logger.info(`${kind.what} downloaded`, { uri, dir: target, files: files.length, bytes, ms: Date.now() - started });
    return target;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    if (error instanceof ModelUnavailableError || error instanceof ControlNetUnavailableError) throw error;
    throw kind.fail(`Downloading the ${kind.what} from ${uri} failed: ${error instanceof Error ? error.message : String(error)}`);
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
async function verifyFile(path: string, object: _Object, kind: FolderKind): Promise<void> {
  const { size } = await stat(path);
  if (object.Size !== undefined && size !== object.Size) {
    throw kind.fail(`${kind.what} file ${object.Key} is ${size} bytes after download, but S3 lists ${object.Size}`);
  }
  const etag = (object.ETag ?? '').replaceAll('"', '');
  if (/^[0-9a-f]{32}$/.test(etag)) {
    const hash = createHash('md5');
    await pipeline(createReadStream(path), hash);
    const md5 = hash.digest('hex');
    if (md5 !== etag) throw kind.fail(`${kind.what} file ${object.Key} has MD5 ${md5} after download, but its ETag is ${etag}`);
  }
}
