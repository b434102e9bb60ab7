/**
 * The local S3 stand-in refuses what Amazon S3 refuses on a presigned POST: a changed key, a body outside the
 * content-length-range, another content type, a bad signature or unknown key id, an expired policy, unnamed fields
 * and a missing key, each with S3's status and error code, and stores nothing then.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3ObjectStorage } from '../../functions/storage.ts';
import { useEmulators } from '../support/emulators.ts';
import { accepts, externalIPv4 } from '../support/loopback.ts';

const env = useEmulators();
let counter = 0;

async function presign(options: { maxBytes?: number; expiresSeconds?: number; contentType?: string } = {}) {
  const key = `uploads/t/front-${process.pid}-${counter++}`;
  const storage = new S3ObjectStorage(env.current.s3, env.current.resources.bucket);
  const post = await storage.presignUpload(key, { contentType: options.contentType ?? 'video/mp4', maxBytes: options.maxBytes ?? 16, expiresSeconds: options.expiresSeconds ?? 600 });
  return { key, ...post };
}

/** Posts the form as a browser would; `change` edits the fields first. */
async function upload(post: Awaited<ReturnType<typeof presign>>, body: Uint8Array<ArrayBuffer>, change: (fields: Record<string, string>) => void = () => undefined) {
  const fields = { ...post.fields };
  change(fields);
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([body], { type: fields['Content-Type'] ?? 'video/mp4' }), 'clip.mp4');
  const res = await fetch(post.url, { method: 'POST', body: form });
  const text = await res.text();
  return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? null, text };
}

async function stored(key: string): Promise<{ bytes: number; type: string } | null> {
  try {
    const head = await env.current.s3.send(new HeadObjectCommand({ Bucket: env.current.resources.bucket, Key: key }));
    return { bytes: head.ContentLength ?? -1, type: head.ContentType ?? '' };
  } catch {
    return null;
  }
}

const bytes = (n: number) => new Uint8Array(new ArrayBuffer(n)).fill(7);

describe('the S3 front enforces the presigned POST policy', () => {
  it('stores an upload that keeps to the policy, with its content type', async () => {
    const post = await presign();
    expect(await upload(post, bytes(10))).toMatchObject({ status: 204 });
    expect(await stored(post.key)).toEqual({ bytes: 10, type: 'video/mp4' });
  });

  it.each([
    ['another key', (f: Record<string, string>) => void (f.key = `${f.key}-other`), 403, 'AccessDenied'],
    ['another content type', (f: Record<string, string>) => void (f['Content-Type'] = 'text/html'), 403, 'AccessDenied'],
    ['a changed signature', (f: Record<string, string>) => void (f['X-Amz-Signature'] = f['X-Amz-Signature'].slice(0, -1) + (f['X-Amz-Signature'].endsWith('0') ? '1' : '0')), 403, 'SignatureDoesNotMatch'],
    ['a policy edited after signing', (f: Record<string, string>) => void (f.Policy = Buffer.from(Buffer.from(f.Policy, 'base64').toString().replace('"content-length-range",1,16', '"content-length-range",1,99999')).toString('base64')), 403, 'SignatureDoesNotMatch'],
    ['an unknown access key', (f: Record<string, string>) => void (f['X-Amz-Credential'] = f['X-Amz-Credential'].replace(/^[^/]+/, 'AKIAOTHER')), 403, 'InvalidAccessKeyId'],
    ['a field the policy does not name', (f: Record<string, string>) => void (f['x-amz-meta-owner'] = 'me'), 403, 'AccessDenied'],
    ['no key field', (f: Record<string, string>) => void delete f.key, 400, 'InvalidArgument'],
    ['no policy', (f: Record<string, string>) => void delete f.Policy, 403, 'AccessDenied'],
  ])('refuses %s', async (_name, change, status, code) => {
    const post = await presign();
    expect(await upload(post, bytes(10), change)).toMatchObject({ status, code });
    expect(await stored(post.key)).toBeNull();
    expect(await stored(`${post.key}-other`)).toBeNull();
  });

  it('refuses a body outside the content-length-range: EntityTooLarge above, EntityTooSmall below', async () => {
    const post = await presign({ maxBytes: 16 });
    expect(await upload(post, bytes(17))).toMatchObject({ status: 400, code: 'EntityTooLarge' });
    expect(await upload(post, bytes(0))).toMatchObject({ status: 400, code: 'EntityTooSmall' });
    expect(await stored(post.key)).toBeNull();
    expect(await upload(post, bytes(16))).toMatchObject({ status: 204 }); // the bound itself is allowed
  });

  it('refuses an expired policy', async () => {
    const post = await presign({ expiresSeconds: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    const answer = await upload(post, bytes(10));
    expect(answer).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(answer.text).toContain('Policy expired');
    expect(await stored(post.key)).toBeNull();
  });

  it('passes other requests through unchanged (SDK GET/PUT against the same endpoint)', async () => {
    const post = await presign();
    await upload(post, bytes(5));
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const got = await env.current.s3.send(new GetObjectCommand({ Bucket: env.current.resources.bucket, Key: post.key }));
    expect((await got.Body!.transformToByteArray()).length).toBe(5);
  });
});

describe('the emulators listen on loopback only', () => {
  it('every endpoint is 127.0.0.1 and nothing answers on this machine\'s other address', async () => {
    const endpoints = Object.values(env.current.resources.aws.endpoints ?? {}).map((e) => new URL(e as string));
    expect(endpoints.length).toBe(3);
    for (const url of endpoints) expect(url.hostname).toBe('127.0.0.1');
    const external = externalIPv4();
    for (const url of endpoints) {
      expect(await accepts('127.0.0.1', Number(url.port))).toBe(true);
      if (external) expect(await accepts(external, Number(url.port)), `port ${url.port} answered on ${external}`).toBe(false);
    }
  });
});
