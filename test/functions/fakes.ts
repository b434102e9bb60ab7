/**
 * In-memory fakes of the app's dependencies for route tests. They keep the same semantics as the AWS-backed
 * implementations (conditional transitions, tenant scoping, newest-first listing); the emulator contract
 * tests check the real ones.
 */
import { hashApiKey } from '../../shared/api-keys.ts';
import type { JobError } from '../../shared/errors.ts';
import type { JobRecord } from '../../shared/job.ts';
import { InvalidCursorError, type Admission, type CancelOutcome, type IdempotencyReservation } from '../../shared/job-store.ts';
import type { ApiJobStore, AppConfig, AppDeps, JobQueue, ObjectStorage } from '../../functions/deps.ts';
import { staticKeyResolver } from '../../functions/api-keys.ts';

export class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, { body: Uint8Array; contentType: string }>();
  readonly presigned: { key: string; contentType: string; maxBytes: number }[] = [];

  async presignUpload(key: string, options: { contentType: string; maxBytes: number; expiresSeconds: number }) {
    this.presigned.push({ key, contentType: options.contentType, maxBytes: options.maxBytes });
    return { url: 'https://bucket.test/', fields: { key, 'Content-Type': options.contentType } };
  }
  async head(key: string) {
    const object = this.objects.get(key);
    return object && { bytes: object.body.length, contentType: object.contentType };
  }
  async readStart(key: string, bytes: number) {
    return this.objects.get(key)?.body.slice(0, bytes);
  }
  async put(key: string, body: Uint8Array, contentType: string) {
    this.objects.set(key, { body, contentType });
  }
  async presignDownload(key: string, expiresSeconds: number) {
    return `https://bucket.test/${key}?expires=${expiresSeconds}`;
  }
}

export class MemoryQueue implements JobQueue {
  readonly sent: string[] = [];
  failNext = false;
  async send(body: string) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('queue unavailable');
    }
    this.sent.push(body);
  }
}

export class MemoryJobStore implements ApiJobStore {
  readonly jobs = new Map<string, JobRecord>();
  readonly keys = new Map<string, { jobId: string; requestHash: string }>();
  /** Count of writes of any kind, to assert that rejected requests write nothing. */
  writes = 0;

  private clone(job: JobRecord): JobRecord {
    return structuredClone(job);
  }
  async create(job: JobRecord) {
    if (this.jobs.has(job.id)) throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
    this.writes++;
    this.jobs.set(job.id, this.clone(job));
  }
  async get(id: string) {
    const job = this.jobs.get(id);
    return job && this.clone(job);
  }
  async getForTenant(id: string, tenant: string) {
    const job = this.jobs.get(id);
    return job && job.tenant === tenant ? this.clone(job) : undefined;
  }
  async listByTenant(tenant: string, page: { limit: number; cursor?: string }) {
    const all = [...this.jobs.values()].filter((job) => job.tenant === tenant).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
    let start = 0;
    if (page.cursor) {
      const [cursorTenant, id] = Buffer.from(page.cursor, 'base64url').toString().split('/');
      start = all.findIndex((job) => job.id === id) + 1;
      if (cursorTenant !== tenant || start === 0) throw new InvalidCursorError(`cursor ${page.cursor} is not valid for this key`);
    }
    const jobs = all.slice(start, start + page.limit);
    const more = start + page.limit < all.length;
    return { jobs: jobs.map((job) => this.clone(job)), nextCursor: more ? Buffer.from(`${tenant}/${jobs[jobs.length - 1].id}`).toString('base64url') : null };
  }
  /** Slot holders per tenant; like the real store, a holder whose job has ended does not count. */
  readonly holders = new Map<string, Set<string>>();
  async admit(tenant: string, jobId: string, cap: number): Promise<Admission> {
    const held = this.holders.get(tenant) ?? new Set<string>();
    for (const id of held) {
      const state = this.jobs.get(id)?.state;
      if (state && state !== 'queued' && state !== 'running') held.delete(id);
    }
    if (held.size >= cap) return { admitted: false, active: held.size };
    this.writes++;
    held.add(jobId);
    this.holders.set(tenant, held);
    return { admitted: true };
  }
  async releaseAdmission(tenant: string, jobId: string) {
    this.holders.get(tenant)?.delete(jobId);
  }
  async queuePosition(job: Pick<JobRecord, 'createdAt'>) {
    return [...this.jobs.values()].filter((other) => other.state === 'queued' && other.createdAt < job.createdAt).length;
  }
  async findIdempotencyKey(tenant: string, key: string) {
    return this.keys.get(`${tenant}/${key}`);
  }
  async reserveIdempotencyKey(tenant: string, key: string, requestHash: string, jobId: string): Promise<IdempotencyReservation> {
    const held = this.keys.get(`${tenant}/${key}`);
    if (held) return { reserved: false, ...held };
    this.writes++;
    this.keys.set(`${tenant}/${key}`, { jobId, requestHash });
    return { reserved: true };
  }
  async releaseIdempotencyKey(tenant: string, key: string) {
    this.writes++;
    this.keys.delete(`${tenant}/${key}`);
  }
  async failQueued(id: string, error: JobError) {
    const job = this.jobs.get(id);
    if (!job || job.state !== 'queued') return false;
    this.writes++;
    Object.assign(job, { state: 'failed', error, queueLane: undefined });
    return true;
  }
  async requestCancel(id: string, tenant: string): Promise<CancelOutcome> {
    const job = this.jobs.get(id);
    if (!job || job.tenant !== tenant) return { kind: 'not_found' };
    if (job.state === 'queued') {
      this.writes++;
      Object.assign(job, { state: 'canceled', cancelRequested: true, error: { code: 'canceled', message: 'Canceled by the caller before it started.' } });
      delete job.queueLane;
      return { kind: 'canceled', job: this.clone(job) };
    }
    if (job.state === 'running') {
      this.writes++;
      job.cancelRequested = true;
      return { kind: 'cancel_requested', job: this.clone(job) };
    }
    if (job.state === 'canceled') return { kind: 'canceled', job: this.clone(job) };
    return { kind: 'finished', job: this.clone(job) };
  }

  /** Jobs whose queue message is not known to be sent: job id -> tenant and when noted. */
  readonly unsent = new Map<string, { tenant: string; createdAt: string }>();
  async noteUnsent(tenant: string, jobId: string) {
    this.writes++;
    this.unsent.set(jobId, { tenant, createdAt: new Date().toISOString() });
  }
  async markSent(jobId: string) {
    this.unsent.delete(jobId);
  }
  async findUnsent(jobId: string) {
    const note = this.unsent.get(jobId);
    return note && { jobId, ...note };
  }

  /** Test helper: move a job as a runner would. */
  force(id: string, patch: Partial<JobRecord>) {
    Object.assign(this.jobs.get(id)!, patch);
  }
}

/**
 * Bytes that start like a video file of the given container (an MP4 `ftyp` box or the WebM/Matroska EBML magic),
 * filled up to `length` with `fill`: what the API's first-bytes check accepts. It decodes to nothing.
 */
export function videoBytes(length: number, container: 'mp4' | 'webm' = 'mp4', fill = 7): Uint8Array<ArrayBuffer> {
  const header = container === 'mp4' ? [0, 0, 0, 24, ...Buffer.from('ftypisom')] : [0x1a, 0x45, 0xdf, 0xa3];
  const bytes = new Uint8Array(length).fill(fill);
  bytes.set(header.slice(0, length));
  return bytes;
}

export const TEST_KEYS = { alice: 'ocd_alice-test-key', bob: 'ocd_bob-test-key' } as const;

export const TEST_CONFIG: AppConfig = {
  maxUploadBytes: 10_000_000,
  maxInlineBytes: 100_000,
  maxJsonBytes: 64 * 1024,
  maxActiveJobsPerTenant: 3,
  uploadExpirySeconds: 900,
  downloadExpirySeconds: 3600,
  jobTtlDays: 7,
  corsOrigins: ['https://app.example'],
  allowPrivateWebhooks: false,
  publicBaseUrl: undefined,
  controlnetConfigured: false,
};

export interface FakeDeps extends AppDeps {
  storage: MemoryStorage;
  queue: MemoryQueue;
  jobs: MemoryJobStore;
  logs: { level: string; message: string; fields?: Record<string, unknown> }[];
}

/** Fresh fakes: two tenants, a fixed clock, sortable counter ids, a DNS table. */
export function fakeDeps(overrides: Partial<AppConfig> = {}): FakeDeps {
  let ms = Date.parse('2026-11-26T12:00:00.000Z');
  let counter = 0;
  const logs: FakeDeps['logs'] = [];
  const dns: Record<string, string[]> = {
    'hooks.example': ['93.184.216.34'],
    'internal.example': ['10.0.0.7'],
    'metadata.example': ['169.254.169.254'],
    'v6-loopback.example': ['::1'],
  };
  return {
    config: { ...TEST_CONFIG, ...overrides },
    storage: new MemoryStorage(),
    queue: new MemoryQueue(),
    jobs: new MemoryJobStore(),
    apiKeys: staticKeyResolver([
      { tenant: 'alice', sha256: hashApiKey(TEST_KEYS.alice) },
      { tenant: 'bob', sha256: hashApiKey(TEST_KEYS.bob) },
    ]),
    resolveHost: async (host) => {
      const addresses = dns[host];
      if (!addresses) throw new Error(`ENOTFOUND ${host}`);
      return addresses;
    },
    clock: () => new Date((ms += 1000)),
    // 26 Crockford characters, increasing: matches the API's id pattern and sorts like ULIDs.
    newId: () => `01JDTEST${String(++counter).padStart(18, '0')}`,
    log: (level, message, fields) => logs.push({ level, message, fields }),
    logs,
  };
}
