/** A bucket and a key prefix, parsed from an `s3://bucket/prefix/` URI. */
export interface S3Location {
  readonly bucketName: string;
  /** The key prefix, without a leading slash and always ending in `/` (empty for the bucket root). */
  readonly prefix: string;
}

// S3 bucket naming rules: 3-63 chars, lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses an `s3://bucket/prefix/` URI (the prefix names a folder, so a missing trailing slash is added).
 *
 * @throws when the value is not an s3:// URI or the bucket name breaks S3's naming rules.
 * @example parseS3Uri('s3://my-models/sd15/') // { bucketName: 'my-models', prefix: 'sd15/' }
 */
export function parseS3Uri(uri: string, what = 'model URI'): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri.trim());
  if (!match) {
    throw new Error(
      `The ${what} '${uri}' is not an S3 URI. Expected s3://<bucket>/<prefix>/, for example s3://my-models/stable-diffusion-v1-5/.`,
    );
  }
  const [, bucketName, rawPrefix] = match;
  if (!BUCKET_NAME.test(bucketName)) {
    throw new Error(
      `The ${what} '${uri}' names the bucket '${bucketName}', which is not a valid S3 bucket name ` +
        '(3-63 characters: lowercase letters, digits, dots and hyphens). Fix the bucket part of the URI.',
    );
  }
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { bucketName, prefix };
}
