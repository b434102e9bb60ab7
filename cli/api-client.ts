/**
 * A small client for the edit API: presigned upload, create, poll, cancel, download.
 * Used by `ocd submit`; works against the local stack and a deployed stack alike (only the base URL differs).
 */
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { containerContentType } from '../shared/containers.ts';

export interface ApiClientOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:8787 */
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}

export interface JobView {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  progress?: { stage?: string; step?: number; steps?: number; fraction?: number };
  queuePosition?: number | null;
  outputs?: Record<string, { url: string; expiresAt?: string }> | null;
  error?: { code: string; message: string } | null;
  [key: string]: unknown;
}

/** An API error carrying the RFC 9457 problem body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Record<string, unknown> | string,
  ) {
    const detail = typeof problem === 'string' ? problem : (problem.detail ?? problem.title ?? JSON.stringify(problem));
    super(`HTTP ${status}: ${String(detail)}`);
  }
}


/** "cannot reach <origin> (ECONNREFUSED: connection refused)": the URL and the cause of a failed connection. */
export function unreachable(url: string, error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens there; is the service running (`npm start`), and is --api right?',
    ENOTFOUND: 'no such host',
    ETIMEDOUT: 'the connection timed out',
    ECONNRESET: 'the connection was reset',
  };
  let origin = url;
  try {
    origin = new URL(url).origin;
  } catch {
    // not a URL: show it as given
  }
  return `cannot reach ${origin} (${code ? `${code}: ${why[code] ?? cause?.message ?? ''}` : (cause?.message ?? (error as Error).message)})`;
}

export class ApiClient {
  private readonly fetch: typeof fetch;
  private readonly baseUrl: string;

  constructor(private readonly options: ApiClientOptions) {
    const base = options.fetch ?? fetch;
    this.fetch = (input, init) => base(input, init).catch((error: unknown) => {
      throw new Error(unreachable(String(input instanceof Request ? input.url : input), error), { cause: error });
    });
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  async request<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.options.apiKey}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const res = await this.fetch(`${this.baseUrl}${path}`, { ...init, headers, body });
    const text = await res.text();
    const parsed = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    if (!res.ok) throw new ApiError(res.status, parsed);
    return parsed as T;
  }

  /** Uploads a local file through a presigned POST; returns the upload id. */
  async upload(path: string): Promise<string> {
    const { size } = await stat(path);
    const contentType = containerContentType(path) ?? 'application/octet-stream';
    const upload = await this.request<{ uploadId: string; url: string; fields: Record<string, string> }>('/v1/uploads', {
      method: 'POST',
      json: { contentType, contentLength: size, filename: basename(path) },
    });
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('file', new Blob([await readFile(path)], { type: contentType }), basename(path));
    const res = await this.fetch(upload.url, { method: 'POST', body: form });
    if (!res.ok) throw new ApiError(res.status, await res.text());
    return upload.uploadId;
  }

  createEdit(body: unknown, idempotencyKey?: string): Promise<JobView> {
    return this.request<JobView>('/v1/edits', {
      method: 'POST',
      json: body,
      headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : undefined,
    });
  }

  getEdit(id: string): Promise<JobView> {
    return this.request<JobView>(`/v1/edits/${encodeURIComponent(id)}`);
  }

  cancelEdit(id: string): Promise<JobView> {
    return this.request<JobView>(`/v1/edits/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
  }

  /** Polls until the job is finished, reporting each view. */
  async waitFor(id: string, onUpdate: (job: JobView) => void, intervalMs = 1000, signal?: AbortSignal): Promise<JobView> {
    for (;;) {
      const job = await this.getEdit(id);
      onUpdate(job);
      if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'canceled') return job;
      if (signal?.aborted) throw signal.reason;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Downloads a presigned URL to a file. */
  async download(url: string, outPath: string): Promise<void> {
    const res = await this.fetch(url);
    if (!res.ok || !res.body) throw new ApiError(res.status, await res.text());
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(outPath));
  }
}
