/**
 * What the app is built from. `createApp(deps)` never reaches outside these: tests pass in-memory fakes, the
 * Lambda and local entries pass the AWS-backed implementations of `real-deps.ts`.
 */
import type { ApiConfig } from '../shared/config.ts';
import type { JobStore } from '../shared/job-store.ts';
import type { ResolveHost } from '../shared/webhook-url.ts';
import { createIdGenerator } from './ids.ts';

/** The bucket, as the API uses it. */
export interface ObjectStorage {
  /** A presigned POST for one object, limited to `maxBytes` and the given Content-Type. */
  presignUpload(key: string, options: { contentType: string; maxBytes: number; expiresSeconds: number }): Promise<{ url: string; fields: Record<string, string> }>;
  /** Size and type of an object, or undefined when it does not exist. */
  head(key: string): Promise<{ bytes: number; contentType: string } | undefined>;
  /** The first `bytes` bytes of an object (fewer when it is shorter), or undefined when it does not exist. */
  readStart(key: string, bytes: number): Promise<Uint8Array | undefined>;
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** A presigned GET URL. */
  presignDownload(key: string, expiresSeconds: number): Promise<string>;
}

/** The edit-jobs queue. */
export interface JobQueue {
  /** Send one job message (already encoded by `encodeQueueMessage`). */
  send(body: string): Promise<void>;
}

/** The job-store operations the API uses (implemented by `JobStore`). */
export type ApiJobStore = Pick<
  JobStore,
  | 'create'
  | 'get'
  | 'getForTenant'
  | 'listByTenant'
  | 'admit'
  | 'releaseAdmission'
  | 'queuePosition'
  | 'reserveIdempotencyKey'
  | 'releaseIdempotencyKey'
  | 'findIdempotencyKey'
  | 'failQueued'
  | 'requestCancel'
  | 'noteUnsent'
  | 'markSent'
  | 'findUnsent'
>;

/** Maps a presented API key to its tenant; undefined for an unknown key. */
export interface ApiKeyResolver {
  tenantFor(key: string): Promise<string | undefined>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** One structured log line. */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** The configuration the app reads (a subset of `ApiConfig`). */
export type AppConfig = Pick<
  ApiConfig,
  | 'maxUploadBytes'
  | 'maxInlineBytes'
  | 'maxJsonBytes'
  | 'maxActiveJobsPerTenant'
  | 'uploadExpirySeconds'
  | 'downloadExpirySeconds'
  | 'jobTtlDays'
  | 'corsOrigins'
  | 'allowPrivateWebhooks'
  | 'publicBaseUrl'
  | 'controlnetConfigured'
>;

export interface AppDeps {
  config: AppConfig;
  storage: ObjectStorage;
  queue: JobQueue;
  jobs: ApiJobStore;
  apiKeys: ApiKeyResolver;
  /** DNS lookup used to vet webhook hosts. */
  resolveHost: ResolveHost;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Sortable unique ids for jobs and uploads. @default - ULIDs from `ids.ts` */
  newId?: () => string;
  /** @default - JSON lines on stdout */
  log?: Logger;
}

/** The default logger: one JSON object per line, so CloudWatch and local runs read the same. */
export const jsonLogger: Logger = (level, message, fields = {}) => {
  const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
};

/** Deps with every default applied: what the routers receive. */
export type ResolvedDeps = Required<AppDeps> & { log: Logger };

/**
 * Check the required deps and apply the defaults.
 *
 * @throws Error naming any missing dependency.
 */
export function resolveDeps(deps: AppDeps): ResolvedDeps {
  const missing = (['config', 'storage', 'queue', 'jobs', 'apiKeys', 'resolveHost'] as const).filter((name) => !deps?.[name]);
  if (missing.length > 0) {
    throw new Error(`createApp is missing ${missing.join(', ')}; pass them in AppDeps (see functions/real-deps.ts for the AWS-backed ones).`);
  }
  const clock = deps.clock ?? (() => new Date());
  return { ...deps, clock, newId: deps.newId ?? createIdGenerator(clock), log: deps.log ?? jsonLogger };
}
