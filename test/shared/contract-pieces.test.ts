import { describe, expect, it } from 'vitest';
import { findTenant, generateApiKey, hashApiKey, parseApiKeysSecret } from '../../shared/api-keys.ts';
import { ConfigError, loadApiConfig, loadWorkerConfig } from '../../shared/config.ts';
import { problem, PROBLEM_CODES, PROBLEM_TYPES } from '../../shared/errors.ts';
import { decodeQueueMessage, encodeQueueMessage } from '../../shared/queue-message.ts';
import { jobOutputKey, jobPrefix, uploadKey } from '../../shared/s3-keys.ts';
import { checkWebhookUrl, internalAddressCategory } from '../../shared/webhook-url.ts';

const BASE_ENV = {
  OCD_BUCKET: 'ocd-bucket',
  OCD_TABLE: 'ocd-jobs',
  OCD_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/ocd-edit-jobs',
};

describe('config', () => {
  it('loads the API config with documented defaults', () => {
    const config = loadApiConfig({ ...BASE_ENV, OCD_API_KEYS: 'dev:ocd_devkey' });
    expect(config).toMatchObject({
      bucket: 'ocd-bucket',
      aws: { region: 'us-east-1', endpoints: {} },
      maxUploadBytes: 200 * 1024 * 1024,
      maxActiveJobsPerTenant: 4,
      allowPrivateWebhooks: false,
      corsOrigins: [],
      auth: { devKeys: [{ tenant: 'dev', key: 'ocd_devkey' }], hashes: [] },
    });
    expect(config.aws.credentials).toBeUndefined();
  });

  it('reads endpoint overrides, emulator credentials, lists and numbers', () => {
    const config = loadApiConfig({
      ...BASE_ENV,
      OCD_API_KEY_HASHES: `t1:${'a'.repeat(64)}`,
      OCD_S3_ENDPOINT: 'http://127.0.0.1:4568',
      OCD_AWS_ACCESS_KEY_ID: 'S3RVER',
      OCD_AWS_SECRET_ACCESS_KEY: 'S3RVER',
      OCD_CORS_ORIGINS: 'https://a.example, https://b.example',
      OCD_MAX_UPLOAD_BYTES: '1000',
      OCD_ALLOW_PRIVATE_WEBHOOKS: 'true',
    });
    expect(config.aws).toMatchObject({ endpoints: { s3: 'http://127.0.0.1:4568' }, credentials: { accessKeyId: 'S3RVER' } });
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.maxUploadBytes).toBe(1000);
    expect(config.allowPrivateWebhooks).toBe(true);
    expect(config.auth.hashes).toEqual([{ tenant: 't1', sha256: 'a'.repeat(64) }]);
  });

  it('fails with every bad variable, its value and the rule', () => {
    expect(() => loadApiConfig({ OCD_TABLE: 'ocd-jobs', OCD_MAX_UPLOAD_BYTES: '-5', OCD_API_KEYS: 'a:b' })).toThrow(ConfigError);
    try {
      loadApiConfig({ OCD_TABLE: 'ocd-jobs', OCD_MAX_UPLOAD_BYTES: '-5', OCD_API_KEYS: 'a:b' });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('OCD_BUCKET=(unset)');
      expect(message).toContain('OCD_QUEUE_URL=(unset)');
      expect(message).toContain('OCD_MAX_UPLOAD_BYTES="-5"');
    }
  });

  it.each([
    ['no key source', {}, /No API keys are configured/],
    ['a malformed hash', { OCD_API_KEY_HASHES: 't1:xyz' }, /64 lowercase hex/],
    ['a key entry without tenant', { OCD_API_KEYS: 'justakey' }, /tenant:key/],
  ])('fails on %s', (_name, extra, message) => {
    expect(() => loadApiConfig({ ...BASE_ENV, ...extra })).toThrow(message);
  });

  it('knows whether a ControlNet is configured, from a local folder or an S3 prefix', () => {
    expect(loadApiConfig({ ...BASE_ENV, OCD_API_KEYS: 'a:b' }).controlnetConfigured).toBe(false);
    expect(loadApiConfig({ ...BASE_ENV, OCD_API_KEYS: 'a:b', OCD_CONTROLNET_DIR: 'models/controlnet' }).controlnetConfigured).toBe(true);
    expect(loadApiConfig({ ...BASE_ENV, OCD_API_KEYS: 'a:b', OCD_CONTROLNET_URI: 's3://models/controlnet/' }).controlnetConfigured).toBe(true);
    expect(loadWorkerConfig({ ...BASE_ENV, OCD_CONTROLNET_URI: 's3://models/controlnet/' })).toMatchObject({ controlnetUri: 's3://models/controlnet/', controlnetDir: undefined });
    expect(() => loadWorkerConfig({ ...BASE_ENV, OCD_CONTROLNET_URI: 'models/controlnet' })).toThrow(/OCD_CONTROLNET_URI="models\/controlnet": must look like s3:\/\//);
  });

  it('loads the runner config with its defaults', () => {
    expect(loadWorkerConfig(BASE_ENV)).toMatchObject({ provider: 'cpu', graceSeconds: 100, modelCacheDir: '.cache/models' });
    expect(() => loadWorkerConfig({ ...BASE_ENV, OCD_PROVIDER: 'tpu' })).toThrow(/OCD_PROVIDER="tpu"/);
    expect(() => loadWorkerConfig({ ...BASE_ENV, OCD_MODEL_URI: 'https://x' })).toThrow(/s3:\/\//);
  });
});

describe('api keys', () => {
  it('generates ocd_ keys of 32 random bytes and hashes them with SHA-256', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^ocd_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey()).not.toBe(key);
    // sha256("abc"), a published test vector.
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('finds the tenant of a key among stored hashes only', () => {
    const hashes = [
      { tenant: 'a', sha256: hashApiKey('ocd_a') },
      { tenant: 'b', sha256: hashApiKey('ocd_b') },
    ];
    expect(findTenant('ocd_b', hashes)).toBe('b');
    expect(findTenant('ocd_c', hashes)).toBeUndefined();
    expect(findTenant('', hashes)).toBeUndefined();
  });

  it('parses the secret JSON and names what is wrong with a bad one', () => {
    const sha = hashApiKey('ocd_x');
    expect(parseApiKeysSecret(JSON.stringify({ keys: [{ tenant: 'acme', sha256: sha, createdAt: '2026-11-01' }] }))).toEqual([{ tenant: 'acme', sha256: sha }]);
    expect(() => parseApiKeysSecret('nope')).toThrow(/not JSON/);
    expect(() => parseApiKeysSecret(JSON.stringify({ keys: [{ tenant: 'acme', sha256: 'ABC' }] }))).toThrow(/keys\.0\.sha256/);
  });
});

describe('queue message', () => {
  it('round-trips { v: 1, jobId }', () => {
    expect(decodeQueueMessage(encodeQueueMessage('01JD0000000000000000000000'))).toEqual({ v: 1, jobId: '01JD0000000000000000000000' });
  });

  it.each([
    ['not JSON', 'hello', /not JSON/],
    ['another version', '{"v":2,"jobId":"x"}', /version 1/],
    ['no job id', '{"v":1}', /jobId/],
    ['extra fields', '{"v":1,"jobId":"x","prompt":"y"}', /prompt/],
  ])('rejects %s', (_name, body, message) => {
    expect(() => decodeQueueMessage(body)).toThrow(message);
  });
});

describe('S3 keys', () => {
  it('lays out uploads per tenant and outputs per job', () => {
    expect(uploadKey('acme', '01JDABC')).toBe('uploads/acme/01JDABC');
    expect(jobOutputKey('01JDJOB', 'video')).toBe('jobs/01JDJOB/output.mp4');
    expect(jobOutputKey('01JDJOB', 'preview')).toBe('jobs/01JDJOB/preview.mp4');
    expect(jobOutputKey('01JDJOB', 'report')).toBe('jobs/01JDJOB/report.json');
    expect(jobPrefix('01JDJOB')).toBe('jobs/01JDJOB/');
  });

  it.each(['../other', 'a/b', '', 'x'.repeat(129)])('refuses a segment that could escape its prefix: %j', (segment) => {
    expect(() => uploadKey('acme', segment)).toThrow(/cannot be part of an S3 key/);
  });
});

describe('errors', () => {
  it('builds RFC 9457 bodies with a stable type per code', () => {
    expect(problem('not_found', 'No job x.')).toEqual({ type: '/problems/not_found', title: PROBLEM_TYPES.not_found.title, status: 404, detail: 'No job x.', code: 'not_found' });
    expect(new Set(PROBLEM_CODES.map((code) => PROBLEM_TYPES[code].title)).size).toBe(PROBLEM_CODES.length);
  });
});

describe('webhook URLs', () => {
  const dns: Record<string, string[]> = { 'public.example': ['8.8.8.8', '2001:4860:4860::8888'], 'mixed.example': ['8.8.8.8', '10.1.2.3'] };
  const resolveHost = async (host: string) => dns[host] ?? [];

  it.each([
    ['10.0.0.1', 'private'],
    ['172.20.1.1', 'private'],
    ['192.168.0.10', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['100.100.1.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'this-network'],
    ['::1', 'loopback'],
    ['fd00::1', 'unique-local (private)'],
    ['fe80::1', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a00:1', 'private'],
  ])('classifies %s as %s', (address, category) => {
    expect(internalAddressCategory(address)).toContain(category);
  });

  it.each(['8.8.8.8', '172.32.0.1', '2001:4860:4860::8888'])('treats %s as public', (address) => {
    expect(internalAddressCategory(address)).toBeUndefined();
  });

  it('accepts https to a public host and refuses a host with any internal address', async () => {
    expect(await checkWebhookUrl('https://public.example/hook', { resolveHost })).toBeUndefined();
    expect(await checkWebhookUrl('https://mixed.example/hook', { resolveHost })).toMatch(/10\.1\.2\.3 \(private\)/);
    expect(await checkWebhookUrl('https://unknown.example/hook', { resolveHost })).toMatch(/does not resolve/);
    expect(await checkWebhookUrl('ftp://public.example/hook', { resolveHost })).toMatch(/https/);
    expect(await checkWebhookUrl('not a url', { resolveHost })).toMatch(/absolute URL/);
  });

  it('allows http and internal hosts only with the development allowance', async () => {
    expect(await checkWebhookUrl('http://127.0.0.1:9000/hook', { resolveHost })).toMatch(/https/);
    expect(await checkWebhookUrl('http://127.0.0.1:9000/hook', { resolveHost, allowPrivate: true })).toBeUndefined();
  });
});
