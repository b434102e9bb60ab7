/**
 * Configuration from the environment: the ONLY module that reads `process.env`. Everything else receives the
 * typed objects built here. Loading validates every variable and fails at start with one message listing each
 * bad variable, its value and what is allowed.
 */
import { z } from 'zod';

type Env = Record<string, string | undefined>;

const MB = 1024 * 1024;

const optionalUrl = z.url().optional();
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z
  .enum(['true', 'false', '1', '0'])
  .default('false')
  .transform((value) => value === 'true' || value === '1');
const list = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

/** Where the AWS clients point. Endpoints are set only against local emulators. */
export interface AwsConfig {
  region: string;
  endpoints: { s3?: string; sqs?: string; dynamodb?: string };
  /** Static credentials for emulators; unset in AWS, where the default provider chain applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The resources both the API and the runner use. */
export interface ResourceConfig {
  bucket: string;
  table: string;
  queueUrl: string;
  aws: AwsConfig;
}

const s3Uri = z.string().regex(/^s3:\/\/[^/]+\/.*/, 'must look like s3://bucket/prefix');

/**
 * The ControlNet folder of the ControlVideo editor, set like the base model: a local diffusers ControlNetModel folder
 * or an S3 prefix holding one. The API reads them only to know whether ControlVideo can run at all.
 */
const ControlNetEnvSchema = {
  OCD_CONTROLNET_DIR: z.string().min(1).optional(),
  OCD_CONTROLNET_URI: s3Uri.optional(),
};

const ResourceEnvSchema = z.object({
  OCD_BUCKET: z.string().min(3),
  OCD_TABLE: z.string().min(3),
  OCD_QUEUE_URL: z.string().regex(/^https?:\/\/\S+$/, 'must be a queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/ocd-edit-jobs'),
  OCD_REGION: z.string().default('us-east-1'),
  OCD_S3_ENDPOINT: optionalUrl,
  OCD_SQS_ENDPOINT: optionalUrl,
  OCD_DYNAMODB_ENDPOINT: optionalUrl,
  OCD_AWS_ACCESS_KEY_ID: z.string().optional(),
  OCD_AWS_SECRET_ACCESS_KEY: z.string().optional(),
});

const ApiEnvSchema = ResourceEnvSchema.extend({
  OCD_API_KEYS_SECRET_ARN: z.string().optional(),
  OCD_API_KEY_HASHES: list,
  OCD_API_KEYS: list,
  OCD_MAX_UPLOAD_BYTES: positiveInt(200 * MB),
  OCD_MAX_INLINE_BYTES: positiveInt(4 * MB),
  OCD_MAX_JSON_BYTES: positiveInt(64 * 1024),
  OCD_MAX_ACTIVE_JOBS: positiveInt(4),
  OCD_UPLOAD_EXPIRY_SECONDS: positiveInt(900),
  OCD_DOWNLOAD_EXPIRY_SECONDS: positiveInt(3600),
  OCD_JOB_TTL_DAYS: positiveInt(7),
  OCD_CORS_ORIGINS: list,
  OCD_ALLOW_PRIVATE_WEBHOOKS: flag,
  OCD_PUBLIC_BASE_URL: optionalUrl,
  OCD_CREATE_LEASE_SECONDS: positiveInt(15),
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  // The local server answers this machine only unless told otherwise (the Lambda entry never listens).
  HOST: z.string().min(1).default('127.0.0.1'),
  ...ControlNetEnvSchema,
});

const WorkerEnvSchema = ResourceEnvSchema.extend({
  OCD_MODEL_DIR: z.string().optional(),
  OCD_MODEL_URI: s3Uri.optional(),
  ...ControlNetEnvSchema,
  OCD_MODEL_CACHE_DIR: z.string().default('.cache/models'),
  // 'auto': the first of cuda, webgpu, cpu that works on the machine (gpu-runner/runtime/provider-choice.ts)
  OCD_PROVIDER: z.enum(['cpu', 'cuda', 'webgpu', 'auto']).default('cpu'),
  OCD_GRACE_SECONDS: positiveInt(100),
  OCD_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  // In a container the health check comes from outside the process's loopback; the local stack sets 127.0.0.1.
  OCD_HEALTH_HOST: z.string().min(1).default('0.0.0.0'),
  OCD_JOB_DEADLINE_SECONDS: positiveInt(1800),
  OCD_WEBHOOK_SECRET: z.string().optional(),
  OCD_ALLOW_PRIVATE_WEBHOOKS: flag,
});

/** One tenant's API key, stored as the SHA-256 hex of the key. */
export interface ApiKeyHash {
  tenant: string;
  sha256: string;
}

export interface ApiConfig extends ResourceConfig {
  auth: {
    /** Secrets Manager secret holding `{"keys":[{tenant, sha256, createdAt}]}` (production). */
    secretArn?: string;
    /** Hashes given directly (`OCD_API_KEY_HASHES=tenant:hex,...`). */
    hashes: ApiKeyHash[];
    /** Plain development keys (`OCD_API_KEYS=tenant:key,...`), hashed at load and never kept. */
    devKeys: { tenant: string; key: string }[];
  };
  maxUploadBytes: number;
  /** Largest video (plus mask) accepted inside a multipart create; stays under the function's payload limit. */
  maxInlineBytes: number;
  maxJsonBytes: number;
  maxActiveJobsPerTenant: number;
  uploadExpirySeconds: number;
  downloadExpirySeconds: number;
  jobTtlDays: number;
  corsOrigins: string[];
  /** Development only: accept webhook URLs on http and private addresses. */
  allowPrivateWebhooks: boolean;
  publicBaseUrl?: string;
  /**
   * Seconds a create may take between its first write and the job record; an Idempotency-Key or cap slot left
   * without a job for longer belongs to a create that died, and is taken over.
   */
  createLeaseSeconds: number;
  port: number;
  /** Address the local server listens on. */
  host: string;
  /**
   * A ControlNet folder is configured (OCD_CONTROLNET_DIR or OCD_CONTROLNET_URI), so the ControlVideo editor can run;
   * without one, its requests are refused at create time (`controlnet_missing`).
   */
  controlnetConfigured: boolean;
}

export interface WorkerConfig extends ResourceConfig {
  modelDir?: string;
  modelUri?: string;
  modelCacheDir: string;
  /** The ControlVideo editor's ControlNet: a local diffusers ControlNetModel folder, or an S3 prefix of one (cached like the model). */
  controlnetDir?: string;
  controlnetUri?: string;
  provider: 'cpu' | 'cuda' | 'webgpu' | 'auto';
  graceSeconds: number;
  healthPort?: number;
  healthHost: string;
  jobDeadlineSeconds: number;
  webhookSecret?: string;
  /** Development only: deliver webhooks over http and to private addresses. */
  allowPrivateWebhooks: boolean;
}

/** Thrown when the environment is invalid; the message lists every bad variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function parseEnv<S extends z.ZodType>(schema: S, env: Env, who: string): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '');
    const value = env[name];
    return `  ${name}=${value === undefined ? '(unset)' : JSON.stringify(value)}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid ${who} configuration; fix these environment variables:\n${lines.join('\n')}`);
}

function resourceConfig(env: z.infer<typeof ResourceEnvSchema>): ResourceConfig {
  const credentials =
    env.OCD_AWS_ACCESS_KEY_ID && env.OCD_AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.OCD_AWS_ACCESS_KEY_ID, secretAccessKey: env.OCD_AWS_SECRET_ACCESS_KEY }
      : undefined;
  return {
    bucket: env.OCD_BUCKET,
    table: env.OCD_TABLE,
    queueUrl: env.OCD_QUEUE_URL,
    aws: {
      region: env.OCD_REGION,
      endpoints: { s3: env.OCD_S3_ENDPOINT, sqs: env.OCD_SQS_ENDPOINT, dynamodb: env.OCD_DYNAMODB_ENDPOINT },
      ...(credentials ? { credentials } : {}),
    },
  };
}

function tenantPairs(items: string[], variable: string, valueName: string): { tenant: string; value: string }[] {
  return items.map((item) => {
    const at = item.indexOf(':');
    if (at <= 0 || at === item.length - 1) {
      throw new ConfigError(`${variable} entry ${JSON.stringify(item.length > 12 ? `${item.slice(0, 12)}...` : item)} is not "tenant:${valueName}"; separate entries with commas.`);
    }
    return { tenant: item.slice(0, at), value: item.slice(at + 1) };
  });
}

/**
 * Load the API's configuration.
 *
 * @param env defaults to `process.env`; tests pass an object.
 * @throws ConfigError listing each invalid variable, or when no source of API keys is configured.
 */
export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = parseEnv(ApiEnvSchema, env, 'API');
  const hashes = tenantPairs(parsed.OCD_API_KEY_HASHES, 'OCD_API_KEY_HASHES', 'sha256hex').map(({ tenant, value }) => {
    if (!/^[0-9a-f]{64}$/.test(value)) {
      throw new ConfigError(`OCD_API_KEY_HASHES for tenant ${JSON.stringify(tenant)} is not 64 lowercase hex characters; use hashApiKey(key) from shared/api-keys.ts.`);
    }
    return { tenant, sha256: value };
  });
  const devKeys = tenantPairs(parsed.OCD_API_KEYS, 'OCD_API_KEYS', 'key').map(({ tenant, value }) => ({ tenant, key: value }));
  if (!parsed.OCD_API_KEYS_SECRET_ARN && hashes.length === 0 && devKeys.length === 0) {
    throw new ConfigError('No API keys are configured: set OCD_API_KEYS_SECRET_ARN (production), OCD_API_KEY_HASHES=tenant:sha256hex or OCD_API_KEYS=tenant:key (development).');
  }
  return {
    ...resourceConfig(parsed),
    auth: { secretArn: parsed.OCD_API_KEYS_SECRET_ARN, hashes, devKeys },
    maxUploadBytes: parsed.OCD_MAX_UPLOAD_BYTES,
    maxInlineBytes: parsed.OCD_MAX_INLINE_BYTES,
    maxJsonBytes: parsed.OCD_MAX_JSON_BYTES,
    maxActiveJobsPerTenant: parsed.OCD_MAX_ACTIVE_JOBS,
    uploadExpirySeconds: parsed.OCD_UPLOAD_EXPIRY_SECONDS,
    downloadExpirySeconds: parsed.OCD_DOWNLOAD_EXPIRY_SECONDS,
    jobTtlDays: parsed.OCD_JOB_TTL_DAYS,
    corsOrigins: parsed.OCD_CORS_ORIGINS,
    allowPrivateWebhooks: parsed.OCD_ALLOW_PRIVATE_WEBHOOKS,
    publicBaseUrl: parsed.OCD_PUBLIC_BASE_URL,
    createLeaseSeconds: parsed.OCD_CREATE_LEASE_SECONDS,
    port: parsed.PORT,
    host: parsed.HOST,
    controlnetConfigured: parsed.OCD_CONTROLNET_DIR !== undefined || parsed.OCD_CONTROLNET_URI !== undefined,
  };
}

/**
 * Load the GPU runner's configuration.
 *
 * @throws ConfigError listing each invalid variable.
 */
export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const parsed = parseEnv(WorkerEnvSchema, env, 'runner');
  return {
    ...resourceConfig(parsed),
    modelDir: parsed.OCD_MODEL_DIR,
    modelUri: parsed.OCD_MODEL_URI,
    modelCacheDir: parsed.OCD_MODEL_CACHE_DIR,
    controlnetDir: parsed.OCD_CONTROLNET_DIR,
    controlnetUri: parsed.OCD_CONTROLNET_URI,
    provider: parsed.OCD_PROVIDER,
    graceSeconds: parsed.OCD_GRACE_SECONDS,
    healthPort: parsed.OCD_HEALTH_PORT,
    healthHost: parsed.OCD_HEALTH_HOST,
    jobDeadlineSeconds: parsed.OCD_JOB_DEADLINE_SECONDS,
    webhookSecret: parsed.OCD_WEBHOOK_SECRET,
    allowPrivateWebhooks: parsed.OCD_ALLOW_PRIVATE_WEBHOOKS,
  };
}
