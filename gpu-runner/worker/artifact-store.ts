/**
 * The S3 side of a job: fetch the input (and mask) to local files, put the outputs back.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** The object does not exist: for an input that is the caller's problem, not a transient failure. */
export class MissingObjectError extends Error {
  constructor(readonly key: string) {
    super(`s3 object ${key} does not exist`);
    this.name = 'MissingObjectError';
  }
}

export interface ArtifactStore {
  /** Download `key` to `path`; throws MissingObjectError when there is no such object. */
  download(key: string, path: string, signal?: AbortSignal): Promise<void>;
  upload(key: string, path: string, contentType: string, metadata?: Record<string, string>): Promise<void>;
  delete(key: string): Promise<void>;
}

export function createS3ArtifactStore(s3: S3Client, bucket: string): ArtifactStore {
  return {
    async download(key, path, signal) {
      let body: Readable;
      try {
        const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
        body = result.Body as Readable;
      } catch (error) {
        if (isNotFound(error)) throw new MissingObjectError(key);
        throw error;
      }
      await pipeline(body, createWriteStream(path), { signal });
    },
    async upload(key, path, contentType, metadata) {
      const { size } = await stat(path);
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ContentType: contentType,
          Metadata: metadata,
        }),
      );
    },
    async delete(key) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
