/**
 * A verifying front for s3rver: every request passes through unchanged, except a browser-style POST upload to the
 * bucket, which is first checked as Amazon S3 checks it (s3-post-policy.ts) and refused with S3's status and
 * error code when the policy does not allow it. s3rver itself stores POST uploads without looking at the policy.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkPostUpload, type PolicyCredentials, type S3Refusal, s3ErrorXml } from './s3-post-policy.ts';

export interface S3FrontOptions {
  /** Address and port to listen on. */
  readonly host: string;
  readonly port: number;
  /** Where s3rver listens. */
  readonly target: { readonly host: string; readonly port: number };
  readonly bucket: string;
  readonly credentials: PolicyCredentials;
  /** Largest POST body read into memory; larger ones are refused as EntityTooLarge. @default 1 GiB */
  readonly maxPostBytes?: number;
  /** The clock policies expire by. @default - the system clock */
  readonly now?: () => Date;
}

export interface S3Front {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the front; resolves once it listens. */
export async function startS3Front(options: S3FrontOptions): Promise<S3Front> {
  const maxPostBytes = options.maxPostBytes ?? 2 ** 30;
  const server = createServer((req, res) => {
    if (isPostUpload(req, options.bucket)) void verifiedPost(req, res);
    else req.pipe(forward(req, res, req.headers));
  });

  /** Sends the request on to s3rver with the same headers (presigned URLs sign the Host) and relays the answer. */
  function forward(req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders) {
    const upstream = httpRequest({ host: options.target.host, port: options.target.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => refuseWith(req, res, { status: 503, code: 'ServiceUnavailable', message: `The S3 emulator did not answer: ${error.message}` }));
    return upstream;
  }

  async function verifiedPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, maxPostBytes);
    if (!body) return refuseWith(req, res, { status: 400, code: 'EntityTooLarge', message: 'Your proposed upload exceeds the maximum allowed size' });
    let form: FormData;
    try {
      form = await new Response(new Blob([new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.length)]), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
    } catch {
      return refuseWith(req, res, { status: 400, code: 'MalformedPOSTRequest', message: 'The body of your POST request is not well-formed multipart/form-data.' });
    }
    const fields: [string, string][] = [];
    const files: Blob[] = [];
    form.forEach((value, name) => {
      if (typeof value === 'string') fields.push([name, value]);
      else files.push(value);
    });
    const refusal = checkPostUpload({ bucket: options.bucket, fields, files: files.length, fileBytes: files[0]?.size ?? 0 }, options.credentials, options.now?.());
    if (refusal) return refuseWith(req, res, refusal);
    forward(req, res, { ...req.headers, 'content-length': String(body.length) }).end(body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** A POST of a multipart form to the bucket itself (path style), which is how a presigned POST uploads. */
function isPostUpload(req: IncomingMessage, bucket: string): boolean {
  const path = (req.url ?? '').split('?')[0];
  return req.method === 'POST' && (path === `/${bucket}` || path === `/${bucket}/`) && /^multipart\/form-data/i.test(req.headers['content-type'] ?? '');
}

/** The whole body, or null once it passes `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Answers with S3's XML error; browsers may read it (the bucket allows any origin). */
function refuseWith(req: IncomingMessage, res: ServerResponse, refusal: S3Refusal): void {
  if (res.headersSent) return void res.destroy();
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/xml', connection: 'close' };
  if (req.headers.origin) headers['access-control-allow-origin'] = '*';
  res.writeHead(refusal.status, headers);
  res.end(s3ErrorXml(refusal, randomBytes(8).toString('hex').toUpperCase()));
  req.resume();
}
