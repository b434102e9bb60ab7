import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { HTTPException } from 'hono/http-exception';
import { createApp } from '../../functions/app.ts';
import { ProblemError } from '../../functions/problems.ts';
import { PROBLEM_CONTENT_TYPE, type Problem } from '../../shared/errors.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { uploadKey } from '../../shared/s3-keys.ts';
import { fakeDeps, TEST_KEYS, videoBytes, type FakeDeps } from './fakes.ts';
import { REPO_ROOT } from '../support/paths.ts';

let deps: FakeDeps;
let app: ReturnType<typeof createApp>;

const auth = (key: string = TEST_KEYS.alice) => ({ Authorization: `Bearer ${key}` });
const prompts = { sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking' };

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...auth(), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function get(path: string, key: string = TEST_KEYS.alice) {
  return app.request(path, { headers: auth(key) });
}

/** Put an object where a finished presigned POST would have put it. */
async function uploaded(tenant: string, uploadId: string, bytes = 1000, contentType = 'video/mp4', body = videoBytes(bytes)) {
  await deps.storage.put(uploadKey(tenant, uploadId), body, contentType);
  return uploadId;
}

/**
 * What only the server should know, as it could show up in an answer: file-system paths, stack frames, source
 * files, error class names, storage keys, the framework's and AWS's own names.
 */
const SERVER_DETAILS = [
  /(?:^|[\s('"])\/(?:tmp|var|home|opt|usr|srv|app|root|work|etc|proc)\//,
  /\bat \S+ \(|\bat (?:file|node):|:\d+:\d+\b/,
  /\.(?:ts|js|mjs|cjs)\b(?!on)/,
  /\b(?:[A-Z]\w*Error|[A-Z]\w*Exception|HTTPException|node_modules|zod|hono|dynamo|dynalite|s3rver|fauxqs|arn:aws)\b/i,
  /\b(?:uploads|jobs)\/[\w-]+\//,
];

/** Every error answer is scanned: none may show a server path, a stack or an internal name. */
function expectNoServerDetails(text: string): void {
  for (const pattern of SERVER_DETAILS) expect(text, `matches ${pattern}`).not.toMatch(pattern);
}

async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  const text = await response.text();
  expectNoServerDetails(text);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ status, code, type: `/problems/${code}` });
  expect(body.detail.length).toBeGreaterThan(10);
  expect(body.requestId).toBe(response.headers.get('x-request-id'));
  expect(body.instance).toMatch(/^\//);
  return body;
}

const UPLOAD_A = '01JDABCDEF0000000000000001';
const UPLOAD_B = '01JDABCDEF0000000000000002';
// A well-formed id that no upload has.
const UPLOAD_MISSING = `01JD${'Z'.repeat(22)}`;

beforeEach(() => {
  deps = fakeDeps();
  app = createApp(deps);
});

describe('meta routes', () => {
  it('answers /healthz without a key, with a request id and secure headers', async () => {
    const response = await app.request('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    expect(deps.logs.some((line) => line.message === 'request' && line.fields?.path === '/healthz' && line.fields?.status === 200)).toBe(true);
  });

  it('echoes a safe caller request id', async () => {
    const response = await app.request('/healthz', { headers: { 'X-Request-Id': 'trace-1234abcd' } });
    expect(response.headers.get('x-request-id')).toBe('trace-1234abcd');
  });

  it('documents problem types at their type URI', async () => {
    const response = await app.request('/problems/upload_invalid');
    expect(await response.json()).toEqual({ type: '/problems/upload_invalid', code: 'upload_invalid', status: 422, title: expect.any(String) });
    await expectProblem(await app.request('/problems/nope'), 404, 'not_found');
  });

  it('answers an unknown route with a 404 problem', async () => {
    await expectProblem(await app.request('/v2/nothing'), 404, 'not_found');
  });

  it('serves the interactive reference at /docs with its script and stylesheet from this server (works offline)', async () => {
    const response = await app.request('/docs');
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('/openapi.json');
    const assets = [...page.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toHaveLength(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/docs\/assets\//); // no CDN
      const served = await app.request(asset);
      expect(served.status).toBe(200);
      expect((await served.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
    expect((await app.request('/docs/assets/swagger-ui-dist/package.json')).status).toBe(404);
  });

  it('pins the swagger-ui-dist release package.json installs', async () => {
    const { SWAGGER_UI_VERSION } = await import('../../functions/routes/meta.ts');
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['swagger-ui-dist']).toBe(SWAGGER_UI_VERSION);
  });
});

describe('authentication', () => {
  it.each([
    ['no Authorization header', {}],
    ['a non-bearer header', { Authorization: 'Basic abc' }],
    ['an unknown key', { Authorization: 'Bearer ocd_wrong' }],
  ])('rejects %s on every /v1 route with 401 and a challenge', async (_name, headers) => {
    for (const [method, path] of [
      ['POST', '/v1/uploads'],
      ['POST', '/v1/edits'],
      ['GET', '/v1/edits'],
      ['GET', `/v1/edits/${UPLOAD_A}`],
      ['POST', `/v1/edits/${UPLOAD_A}/cancel`],
    ]) {
      const response = await app.request(path, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: method === 'POST' ? '{}' : undefined });
      await expectProblem(response, 401, 'unauthorized');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="ocd"/);
    }
    expect(deps.jobs.writes + deps.queue.sent.length + deps.storage.presigned.length).toBe(0);
  });
});

describe('POST /v1/uploads', () => {
  it('returns a presigned POST limited to the declared size and type', async () => {
    const response = await post('/v1/uploads', { contentType: 'video/mp4', contentLength: 5000, filename: 'bear.mp4' });
    expect(response.status).toBe(201);
    const ticket = await response.json();
    expect(ticket).toMatchObject({ uploadId: expect.stringMatching(/^[0-9A-Z]{26}$/), maxBytes: 5000, url: 'https://bucket.test/' });
    expect(Date.parse(ticket.expiresAt)).toBeGreaterThan(Date.parse('2026-11-26T12:00:00Z'));
    expect(deps.storage.presigned).toEqual([{ key: uploadKey('alice', ticket.uploadId), contentType: 'video/mp4', maxBytes: 5000 }]);
  });

  it.each<[string, unknown, number, string, string?]>([
    ['an oversize declared upload', { contentType: 'video/mp4', contentLength: 10_000_001 }, 400, 'validation_failed', 'contentLength'],
    ['a zero length', { contentType: 'video/mp4', contentLength: 0 }, 400, 'validation_failed', 'contentLength'],
    ['an unsupported type', { contentType: 'image/png', contentLength: 10 }, 400, 'validation_failed', 'contentType'],
    ['a missing field', { contentType: 'video/mp4' }, 400, 'validation_failed', 'contentLength'],
    ['an unknown field', { contentType: 'video/mp4', contentLength: 10, bucket: 'x' }, 400, 'validation_failed', ''],
    ['malformed JSON', '{"contentType": "video/mp4",', 400, 'malformed_json'],
  ])('rejects %s', async (_name, body, status, code, path) => {
    const problem = await expectProblem(await post('/v1/uploads', body), status, code);
    if (path !== undefined) expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(deps.storage.presigned).toHaveLength(0);
  });

  it('rejects a form body with 415', async () => {
    const response = await app.request('/v1/uploads', { method: 'POST', headers: { ...auth(), 'Content-Type': 'text/plain' }, body: 'hello' });
    await expectProblem(response, 415, 'unsupported_media_type');
  });
});

describe('POST /v1/edits (JSON)', () => {
  it('creates a queued job, stores it once and sends exactly one message', async () => {
    await uploaded('alice', UPLOAD_A);
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A }, preset: 'optimized', sampler: { steps: 10 } });
    expect(response.status).toBe(202);
    const job = await response.json();
    expect(job).toMatchObject({ object: 'edit', state: 'queued', queuePosition: 0, input: { uploadId: UPLOAD_A, bytes: 1000, contentType: 'video/mp4' }, outputs: null, error: null });
    expect(job.options).toMatchObject({ preset: 'optimized', sampler: { kind: 'dpmsolver++', steps: 10 }, inversion: { steps: 10 } });
    expect(response.headers.get('location')).toBe(`/v1/edits/${job.id}`);
    expect(deps.jobs.jobs.size).toBe(1);
    expect(deps.queue.sent.map(decodeQueueMessage)).toEqual([{ v: 1, jobId: job.id }]);
    expect(deps.jobs.jobs.get(job.id)).toMatchObject({ tenant: 'alice', queueLane: 'queued', attempt: 0 });
  });

  it('defaults the mask knob to the mask video when one is referenced', async () => {
    await uploaded('alice', UPLOAD_A);
    await uploaded('alice', UPLOAD_B);
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A }, mask: { uploadId: UPLOAD_B } });
    const job = await response.json();
    expect(job.options.ocd.mask).toBe('video');
    expect(job.mask).toMatchObject({ uploadId: UPLOAD_B });
  });

  it('accepts a public https webhook', async () => {
    await uploaded('alice', UPLOAD_A);
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A }, webhookUrl: 'https://hooks.example/ocd' });
    expect(response.status).toBe(202);
    expect((await response.json()).webhookUrl).toBe('https://hooks.example/ocd');
  });

  it('replays an idempotent retry without a second message, and refuses the key for another body', async () => {
    await uploaded('alice', UPLOAD_A);
    const body = { ...prompts, input: { uploadId: UPLOAD_A } };
    const first = await post('/v1/edits', body, { 'Idempotency-Key': 'retry-1' });
    const second = await post('/v1/edits', { input: { uploadId: UPLOAD_A }, targetPrompt: prompts.targetPrompt, sourcePrompt: prompts.sourcePrompt }, { 'Idempotency-Key': 'retry-1' });
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect((await second.json()).id).toBe((await first.json()).id);
    expect(deps.queue.sent).toHaveLength(1);
    expect(deps.jobs.jobs.size).toBe(1);

    await expectProblem(await post('/v1/edits', { ...body, seed: 7 }, { 'Idempotency-Key': 'retry-1' }), 409, 'idempotency_key_reused');
    // Keys are per tenant: bob's identical key is a different key.
    await uploaded('bob', UPLOAD_A);
    expect((await post('/v1/edits', body, { 'Idempotency-Key': 'retry-1', ...auth(TEST_KEYS.bob) })).status).toBe(202);
    expect(deps.queue.sent).toHaveLength(2);
  });

  it('answers 429 with Retry-After at the active-job cap', async () => {
    await uploaded('alice', UPLOAD_A);
    for (let i = 0; i < 3; i++) expect((await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } })).status).toBe(202);
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } });
    await expectProblem(response, 429, 'too_many_active_jobs');
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(deps.queue.sent).toHaveLength(3);
    // Finished jobs do not count.
    const [firstId] = deps.jobs.jobs.keys();
    deps.jobs.force(firstId, { state: 'succeeded' });
    expect((await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } })).status).toBe(202);
  });

  it('fails the job and frees the idempotency key when the message cannot be sent', async () => {
    await uploaded('alice', UPLOAD_A);
    deps.queue.failNext = true;
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } }, { 'Idempotency-Key': 'k-enqueue' });
    await expectProblem(response, 503, 'service_unavailable');
    expect(response.headers.get('retry-after')).toBeTruthy();
    const [job] = deps.jobs.jobs.values();
    expect(job).toMatchObject({ state: 'failed', error: { code: 'enqueue_failed' } });
    expect(deps.jobs.keys.size).toBe(0);
    const retry = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } }, { 'Idempotency-Key': 'k-enqueue' });
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
  });

  it('answers 500 internal when a dependency throws unexpectedly, and logs it', async () => {
    deps.storage.head = async () => {
      const error = new TypeError(`S3 exploded reading uploads/alice/${UPLOAD_A} from /var/task/functions/storage.ts`);
      error.stack = `${error.message}\n    at S3ObjectStorage.head (/var/task/functions/storage.ts:31:7)\n    at file:///var/task/index.mjs:1:1`;
      throw error;
    };
    const response = await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } });
    const problem = await expectProblem(response, 500, 'internal');
    expect(problem.detail).not.toContain('exploded');
    expect(deps.logs.some((line) => line.level === 'error' && String(line.fields?.error).includes('S3 exploded'))).toBe(true);
  });
});

describe('POST /v1/edits rejects bad input and writes nothing', () => {
  const valid = { ...prompts, input: { uploadId: UPLOAD_A } };
  type Case = [string, unknown, number, string, string?, Record<string, string>?];
  const cases: Case[] = [
    ['a missing input', { ...prompts }, 400, 'validation_failed', 'input'],
    ['a missing target prompt', { sourcePrompt: 'a', input: valid.input }, 400, 'validation_failed', 'targetPrompt'],
    ['an unknown field', { ...valid, strength: 0.7 }, 400, 'validation_failed', ''],
    ['an unknown nested field', { ...valid, sampler: { steps: 10, eta: 0 } }, 400, 'validation_failed', 'sampler'],
    ['a number as prompt', { ...valid, sourcePrompt: 42 }, 400, 'validation_failed', 'sourcePrompt'],
    ['a string as seed', { ...valid, seed: '1' }, 400, 'validation_failed', 'seed'],
    ['an empty prompt', { ...valid, targetPrompt: '' }, 400, 'prompt_not_visible', 'targetPrompt'],
    ['a prompt of spaces', { ...valid, sourcePrompt: ' \t\n\u00a0\u3000' }, 400, 'prompt_not_visible', 'sourcePrompt'],
    ['a prompt of zero-width characters', { ...valid, targetPrompt: '\u200b\u200c\u200d\ufeff' }, 400, 'prompt_not_visible', 'targetPrompt'],
    ['a prompt of control characters', { ...valid, sourcePrompt: '\u0001\u0007\u001b[0m' }, 400, 'prompt_not_visible', 'sourcePrompt'],
    ['a word swap of unequal word counts', { ...valid, targetPrompt: 'a big red tiger walking', fusion: { controller: 'replace' } }, 400, 'replace_word_count', 'fusion.controller'],
    ['a blend word missing from the source prompt', { ...valid, fusion: { blendWords: { source: ['lion'], target: ['tiger'] } } }, 400, 'blend_word_not_in_prompt', 'fusion.blendWords.source.0'],
    ['a blend word missing from the target prompt', { ...valid, fusion: { blendWords: { source: ['bear'], target: ['tiger', 'lion'] } } }, 400, 'blend_word_not_in_prompt', 'fusion.blendWords.target.1'],
    ['a reweighted word missing from the target prompt', { ...valid, fusion: { reweight: { bear: 2 } } }, 400, 'reweight_word_not_in_prompt', 'fusion.reweight.bear'],
    ['a 10 kB prompt', { ...valid, sourcePrompt: 'b'.repeat(10_000) }, 400, 'validation_failed', 'sourcePrompt'],
    ['an unknown preset', { ...valid, preset: 'fastest' }, 400, 'validation_failed', 'preset'],
    ['101 steps', { ...valid, sampler: { steps: 101 } }, 400, 'validation_failed', 'sampler.steps'],
    ['a negative guidance', { ...valid, sampler: { guidance: -1 } }, 400, 'validation_failed', 'sampler.guidance'],
    ['a merge ratio above 0.95', { ...valid, tome: { ratio: [0.99] } }, 400, 'validation_failed', 'tome.ratio.0'],
    ['gamma above 1', { ...valid, ocd: { gamma: 2 } }, 400, 'validation_failed', 'ocd.gamma'],
    ['phi of 0', { ...valid, ocd: { phi: 0 } }, 400, 'validation_failed', 'ocd.phi'],
    ['unpaired inversion steps', { ...valid, inversion: { steps: 7 } }, 400, 'validation_failed', 'inversion.steps'],
    ['a video mask without a mask upload', { ...valid, ocd: { mask: 'video' } }, 400, 'validation_failed', 'ocd.mask'],
    ['a malformed upload id', { ...valid, input: { uploadId: '../../etc' } }, 400, 'validation_failed', 'input.uploadId'],
    ['a nonexistent upload', { ...valid, input: { uploadId: UPLOAD_MISSING } }, 422, 'upload_invalid', 'input.uploadId'],
    ['another tenant\'s upload', { ...valid, input: { uploadId: UPLOAD_B } }, 422, 'upload_invalid', 'input.uploadId'],
    ['a nonexistent mask upload', { ...valid, mask: { uploadId: UPLOAD_MISSING } }, 422, 'upload_invalid', 'mask.uploadId'],
    ['an http webhook', { ...valid, webhookUrl: 'http://hooks.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a loopback webhook', { ...valid, webhookUrl: 'https://127.0.0.1/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a webhook resolving to a private address', { ...valid, webhookUrl: 'https://internal.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a webhook resolving to link-local metadata', { ...valid, webhookUrl: 'https://metadata.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a webhook resolving to IPv6 loopback', { ...valid, webhookUrl: 'https://v6-loopback.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['an IPv4-mapped private webhook', { ...valid, webhookUrl: 'https://[::ffff:192.168.1.1]/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a webhook that does not resolve', { ...valid, webhookUrl: 'https://nowhere.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['a webhook with credentials', { ...valid, webhookUrl: 'https://u:p@hooks.example/x' }, 400, 'validation_failed', 'webhookUrl'],
    ['malformed JSON', '{"sourcePrompt": ', 400, 'malformed_json'],
    ['a JSON array', '[]', 400, 'validation_failed', ''],
    ['an invalid Idempotency-Key', valid, 400, 'validation_failed', 'Idempotency-Key', { 'Idempotency-Key': 'has space' }],
    ['a wrong content type', valid, 415, 'unsupported_media_type', undefined, { 'Content-Type': 'text/plain' }],
    ['a JSON body over the limit', { ...valid, negativePrompt: 'x'.repeat(70 * 1024) }, 413, 'payload_too_large'],
  ];

  it.each(cases)('%s', async (_name, body, status, code, path, headers = {}) => {
    await uploaded('alice', UPLOAD_A);
    await uploaded('bob', UPLOAD_B);
    const objectsBefore = deps.storage.objects.size;
    const problem = await expectProblem(await post('/v1/edits', body, headers), status, code);
    if (path !== undefined) expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(deps.storage.objects.size).toBe(objectsBefore);
    expect(deps.jobs.writes).toBe(0);
    expect(deps.queue.sent).toHaveLength(0);
  });

  it.each([
    ['an empty object', 0, 'video/mp4', /empty/],
    ['an oversize object', 10_000_001, 'video/mp4', /over the 10000000-byte limit/],
    ['a non-video object', 100, 'text/html', /content type/],
  ])('rejects an upload that is %s', async (_name, bytes, type, message) => {
    await uploaded('alice', UPLOAD_A, bytes, type);
    const problem = await expectProblem(await post('/v1/edits', valid), 422, 'upload_invalid');
    expect(problem.detail).toMatch(message);
    expect(deps.jobs.writes + deps.queue.sent.length).toBe(0);
  });

  it('answers validation_failed when the fields break different rules, each field keeping its own code', async () => {
    const body = { ...valid, targetPrompt: 'a big red tiger walking', fusion: { controller: 'replace', reweight: { lion: 2 } }, seed: -1 };
    const problem = await expectProblem(await post('/v1/edits', body), 400, 'validation_failed');
    expect(problem.errors).toEqual([{ path: 'seed', message: expect.any(String) }]);
    const rules = await expectProblem(await post('/v1/edits', { ...body, seed: 1 }), 400, 'validation_failed');
    expect(rules.errors!.map((e) => [e.path, e.code])).toEqual([
      ['fusion.controller', 'replace_word_count'],
      ['fusion.reweight.lion', 'reweight_word_not_in_prompt'],
    ]);
  });

  it.each([
    ['HTML', new TextEncoder().encode('<!DOCTYPE html><html>')],
    ['a PNG image', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['zeros', new Uint8Array(1000)],
    ['a box type no video starts with', new Uint8Array([0, 0, 0, 24, ...new TextEncoder().encode('abcdisom')])],
  ])('rejects an upload whose first bytes are %s with 422 upload_not_video', async (_name, body) => {
    await uploaded('alice', UPLOAD_A, body.length, 'video/mp4', body);
    const problem = await expectProblem(await post('/v1/edits', valid), 422, 'upload_not_video');
    expect(problem.errors).toEqual([{ path: 'input.uploadId', message: expect.stringMatching(/first bytes: [0-9a-f ]+/), code: 'upload_not_video' }]);
    expect(deps.jobs.writes + deps.queue.sent.length).toBe(0);
  });

  it('accepts an upload that starts like WebM whatever type it was declared with', async () => {
    await uploaded('alice', UPLOAD_A, 1000, 'video/mp4', videoBytes(1000, 'webm'));
    expect((await post('/v1/edits', valid)).status).toBe(202);
  });

  it('lists every offending field at once', async () => {
    const problem = await expectProblem(await post('/v1/edits', { ...valid, sourcePrompt: '', sampler: { steps: 0, guidance: 99 } }), 400, 'validation_failed');
    expect(problem.errors!.map((e) => e.path).sort()).toEqual(['sampler.guidance', 'sampler.steps', 'sourcePrompt']);
  });
});

describe('POST /v1/edits (multipart)', () => {
  function form(fields: { request?: unknown; video?: Blob; mask?: Blob }) {
    const data = new FormData();
    if (fields.request !== undefined) data.set('request', typeof fields.request === 'string' ? fields.request : JSON.stringify(fields.request));
    if (fields.video) data.set('video', fields.video, 'clip.mp4');
    if (fields.mask) data.set('mask', fields.mask, 'mask.mp4');
    return data;
  }
  const send = (data: FormData, key: string = TEST_KEYS.alice, headers: Record<string, string> = {}) =>
    app.request('/v1/edits', { method: 'POST', headers: { ...auth(key), ...headers }, body: data });
  const video = (bytes = 2000, type = 'video/mp4', body = videoBytes(bytes)) => new Blob([body], { type });

  it('stores the video and mask, then creates the job in one call', async () => {
    const response = await send(form({ request: prompts, video: video(), mask: video(500) }));
    expect(response.status).toBe(202);
    const job = await response.json();
    expect(job.input).toMatchObject({ bytes: 2000, contentType: 'video/mp4' });
    expect(job.options.ocd.mask).toBe('video');
    const stored = deps.storage.objects.get(uploadKey('alice', job.input.uploadId));
    expect(stored?.body.length).toBe(2000);
    expect(stored?.body).toEqual(videoBytes(2000));
    expect(deps.storage.objects.get(uploadKey('alice', job.mask.uploadId))?.body.length).toBe(500);
    expect(deps.queue.sent.map(decodeQueueMessage)).toEqual([{ v: 1, jobId: job.id }]);
  });

  it('replays an identical multipart retry with the same key', async () => {
    const first = await send(form({ request: prompts, video: video() }), TEST_KEYS.alice, { 'Idempotency-Key': 'mp-1' });
    const second = await send(form({ request: prompts, video: video() }), TEST_KEYS.alice, { 'Idempotency-Key': 'mp-1' });
    expect((await second.json()).id).toBe((await first.json()).id);
    expect(deps.storage.objects.size).toBe(1);
    await expectProblem(await send(form({ request: prompts, video: video(2001) }), TEST_KEYS.alice, { 'Idempotency-Key': 'mp-1' }), 409, 'idempotency_key_reused');
  });

  it.each<[string, () => FormData, number, string, string?]>([
    ['a missing video', () => form({ request: prompts }), 400, 'validation_failed', 'video'],
    ['a missing request field', () => form({ video: video() }), 400, 'validation_failed', 'request'],
    ['malformed request JSON', () => form({ request: '{oops', video: video() }), 400, 'malformed_json'],
    ['an invalid knob', () => form({ request: { ...prompts, ocd: { gamma: 3 } }, video: video() }), 400, 'validation_failed', 'request.ocd.gamma'],
    ['a blend word missing from its prompt', () => form({ request: { ...prompts, fusion: { blendWords: { source: ['lion'], target: ['tiger'] } } }, video: video() }), 400, 'blend_word_not_in_prompt', 'request.fusion.blendWords.source.0'],
    ['a prompt of zero-width characters', () => form({ request: { ...prompts, sourcePrompt: '\u200b' }, video: video() }), 400, 'prompt_not_visible', 'request.sourcePrompt'],
    ['input inside the request', () => form({ request: { ...prompts, input: { uploadId: UPLOAD_A } }, video: video() }), 400, 'validation_failed', 'request'],
    ['a non-video file', () => form({ request: prompts, video: video(10, 'image/png') }), 400, 'validation_failed', 'video'],
    ['an empty video', () => form({ request: prompts, video: video(0) }), 400, 'validation_failed', 'video'],
    ['a video file that is not a video', () => form({ request: prompts, video: video(500, 'video/mp4', new Uint8Array(500).fill(7)) }), 422, 'upload_not_video', 'video'],
    ['a mask file that is not a video', () => form({ request: prompts, video: video(), mask: video(500, 'video/webm', new Uint8Array(500)) }), 422, 'upload_not_video', 'mask'],
    ['a video over the inline limit', () => form({ request: prompts, video: video(100_001) }), 413, 'payload_too_large'],
    ['a body far over the multipart limit', () => form({ request: prompts, video: video(600_000) }), 413, 'payload_too_large'],
  ])('rejects %s and writes nothing', async (_name, build, status, code, path) => {
    const problem = await expectProblem(await send(build()), status, code);
    if (path !== undefined) expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(deps.storage.objects.size + deps.jobs.writes + deps.queue.sent.length).toBe(0);
  });
});

describe('GET /v1/edits/{id}', () => {
  async function createJob(key: string = TEST_KEYS.alice, tenant = 'alice') {
    await uploaded(tenant, UPLOAD_A);
    return (await (await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } }, auth(key))).json()) as { id: string };
  }

  it('reports a queued job with its queue position', async () => {
    const first = await createJob();
    const second = await createJob(TEST_KEYS.bob, 'bob');
    expect((await (await get(`/v1/edits/${first.id}`)).json()).queuePosition).toBe(0);
    expect((await (await get(`/v1/edits/${second.id}`, TEST_KEYS.bob)).json()).queuePosition).toBe(1);
  });

  it('reports progress and timings while running', async () => {
    const { id } = await createJob();
    deps.jobs.force(id, { state: 'running', attempt: 1, progress: { stage: 'edit', step: 5, steps: 20, fraction: 0.6 }, timings: { decode: 0.4, inversion: 3.2 } });
    const job = await (await get(`/v1/edits/${id}`)).json();
    expect(job).toMatchObject({ state: 'running', queuePosition: null, progress: { stage: 'edit', step: 5, steps: 20, fraction: 0.6 }, timings: { decode: 0.4, inversion: 3.2 } });
  });

  it('gives presigned output URLs with their expiry once succeeded', async () => {
    const { id } = await createJob();
    deps.jobs.force(id, { state: 'succeeded', outputs: { video: `jobs/${id}/output.mp4`, preview: `jobs/${id}/preview.mp4`, report: `jobs/${id}/report.json` } });
    const job = await (await get(`/v1/edits/${id}`)).json();
    expect(job.outputs.video.url).toBe(`https://bucket.test/jobs/${id}/output.mp4?expires=3600`);
    expect(job.outputs.report.url).toContain('report.json');
    expect(Date.parse(job.outputs.video.expiresAt) - Date.parse(job.updatedAt)).toBeGreaterThan(3000 * 1000);
  });

  it('shows a runner\'s error message without the server\'s paths, keys or stack', async () => {
    const { id } = await createJob();
    const message = `The input file is not a readable video (/tmp/ocd/job-${id}-x/input: Invalid data found). The upload was uploads/alice/${UPLOAD_A}.\n    at probeVideo (/app/gpu-runner/video/probe.ts:110:11)`;
    deps.jobs.force(id, { state: 'failed', error: { code: 'input_unreadable', message } });
    const { error } = await (await get(`/v1/edits/${id}`)).json();
    expectNoServerDetails(JSON.stringify(error));
    expect(error).toEqual({ code: 'input_unreadable', message: 'The input file is not a readable video (input: Invalid data found). The upload was the stored file.' });
  });

  it('reports a failed job\'s error code and message', async () => {
    const { id } = await createJob();
    deps.jobs.force(id, { state: 'failed', error: { code: 'input_unreadable', message: 'not a video' } });
    expect((await (await get(`/v1/edits/${id}`)).json()).error).toEqual({ code: 'input_unreadable', message: 'not a video' });
  });

  it('answers 404 to another tenant and for an unknown id', async () => {
    const { id } = await createJob();
    await expectProblem(await get(`/v1/edits/${id}`, TEST_KEYS.bob), 404, 'not_found');
    await expectProblem(await get('/v1/edits/01JDNOSUCHJOB0000000000000'), 404, 'not_found');
  });
});

describe('GET /v1/edits', () => {
  it('lists only the caller\'s jobs, newest first, page by page', async () => {
    await uploaded('alice', UPLOAD_A);
    await uploaded('bob', UPLOAD_A);
    deps.config.maxActiveJobsPerTenant = 10;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await (await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A }, seed: i })).json()).id);
    await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } }, auth(TEST_KEYS.bob));

    const page1 = await (await get('/v1/edits?limit=2')).json();
    expect(page1.data.map((job: { id: string }) => job.id)).toEqual([ids[4], ids[3]]);
    const page2 = await (await get(`/v1/edits?limit=2&cursor=${page1.nextCursor}`)).json();
    const page3 = await (await get(`/v1/edits?limit=2&cursor=${page2.nextCursor}`)).json();
    expect([...page2.data, ...page3.data].map((job: { id: string }) => job.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(page3.nextCursor).toBeNull();
    expect((await (await get('/v1/edits', TEST_KEYS.bob)).json()).data).toHaveLength(1);
    await expectProblem(await get(`/v1/edits?cursor=${page1.nextCursor}`, TEST_KEYS.bob), 400, 'invalid_cursor');
  });

  it.each(['limit=0', 'limit=101', 'limit=abc'])('rejects %s', async (query) => {
    const problem = await expectProblem(await get(`/v1/edits?${query}`), 400, 'validation_failed');
    expect(problem.errors?.map((e) => e.path)).toContain('limit');
  });
});

describe('POST /v1/edits/{id}/cancel', () => {
  async function createJob() {
    await uploaded('alice', UPLOAD_A);
    return ((await (await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } })).json()) as { id: string }).id;
  }
  const cancel = (id: string, key: string = TEST_KEYS.alice) => app.request(`/v1/edits/${id}/cancel`, { method: 'POST', headers: auth(key) });

  it('cancels a queued job at once, and again idempotently', async () => {
    const id = await createJob();
    const first = await cancel(id);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ state: 'canceled', error: { code: 'canceled' } });
    expect((await (await cancel(id)).json()).state).toBe('canceled');
  });

  it('requests cancellation of a running job', async () => {
    const id = await createJob();
    deps.jobs.force(id, { state: 'running', attempt: 1 });
    expect(await (await cancel(id)).json()).toMatchObject({ state: 'running', cancelRequested: true });
  });

  it.each(['succeeded', 'failed'] as const)('answers 409 for a %s job', async (state) => {
    const id = await createJob();
    deps.jobs.force(id, { state });
    await expectProblem(await cancel(id), 409, 'job_finished');
  });

  it('answers 404 to another tenant and leaves the job alone', async () => {
    const id = await createJob();
    await expectProblem(await cancel(id, TEST_KEYS.bob), 404, 'not_found');
    expect(deps.jobs.jobs.get(id)!.state).toBe('queued');
  });
});

describe('CORS', () => {
  it('allows listed origins and their preflight', async () => {
    const response = await app.request('/v1/edits', {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
  });

  it('gives other origins no CORS headers', async () => {
    const response = await app.request('/healthz', { headers: { Origin: 'https://evil.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('ProblemError', () => {
  it('is an HTTPException whose own response is the problem+json body', async () => {
    const error = new ProblemError('too_many_active_jobs', 'Too many.', { headers: { 'Retry-After': '30' } });
    expect(error).toBeInstanceOf(HTTPException);
    const response = error.getResponse();
    expect(response.status).toBe(429);
    expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
    expect(response.headers.get('retry-after')).toBe('30');
    expect(await response.json()).toMatchObject({ code: 'too_many_active_jobs', status: 429, detail: 'Too many.' });
  });
});

describe('createApp', () => {
  it('fails when built without a dependency, naming it', () => {
    const { jobs: _jobs, queue: _queue, ...partial } = fakeDeps();
    expect(() => createApp(partial as never)).toThrow(/missing queue, jobs/);
  });
});

describe('POST /v1/edits with the ControlVideo editor', () => {
  const UPLOAD_C = '01JDABCDEF0000000000000003';
  const controlvideo = { ...prompts, editor: 'controlvideo', input: { uploadId: UPLOAD_A } };

  beforeEach(async () => {
    deps = fakeDeps({ controlnetConfigured: true });
    app = createApp(deps);
    await uploaded('alice', UPLOAD_A);
    await uploaded('alice', UPLOAD_C, 800);
    await uploaded('bob', UPLOAD_B);
  });

  it('runs canny control by default, with the preset implied by the editor', async () => {
    const response = await post('/v1/edits', controlvideo);
    expect(response.status).toBe(202);
    const job = await response.json();
    expect(job.options).toMatchObject({ editor: 'controlvideo', preset: 'controlvideo-ocd', control: { type: 'canny', low: 100, high: 200 }, conditioningScale: 1 });
    expect(job.control).toBeNull();
    expect(deps.jobs.jobs.get(job.id)?.control).toBeNull();
  });

  it('keeps a control video upload beside the input, and the knob without its upload id', async () => {
    const response = await post('/v1/edits', { ...controlvideo, preset: 'controlvideo', control: { type: 'video', uploadId: UPLOAD_C } });
    expect(response.status).toBe(202);
    const job = await response.json();
    expect(job.control).toEqual({ uploadId: UPLOAD_C, bytes: 800, contentType: 'video/mp4' });
    expect(job.request.control).toEqual({ type: 'video' });
    expect(job.options.control).toEqual({ type: 'video' });
    expect(deps.jobs.jobs.get(job.id)?.control?.key).toBe(uploadKey('alice', UPLOAD_C));
  });

  it.each<[string, unknown, number, string, string]>([
    ['a control video that does not exist', { ...controlvideo, control: { type: 'video', uploadId: UPLOAD_MISSING } }, 422, 'upload_invalid', 'control.uploadId'],
    ["another tenant's control video", { ...controlvideo, control: { type: 'video', uploadId: UPLOAD_B } }, 422, 'upload_invalid', 'control.uploadId'],
    ['a control video without its upload', { ...controlvideo, control: { type: 'video' } }, 400, 'validation_failed', 'control.uploadId'],
    ['an unknown control type', { ...controlvideo, control: { type: 'depth' } }, 400, 'validation_failed', 'control.type'],
    ['canny thresholds the wrong way round', { ...controlvideo, control: { type: 'canny', low: 200, high: 100 } }, 400, 'validation_failed', 'control.low'],
    ['control on the FateZero editor', { ...prompts, input: { uploadId: UPLOAD_A }, control: { type: 'canny' } }, 400, 'validation_failed', 'control'],
    ['an editor its preset does not belong to', { ...controlvideo, preset: 'ocd' }, 400, 'validation_failed', 'editor'],
    ['a conditioning scale above 2', { ...controlvideo, conditioningScale: 3 }, 400, 'validation_failed', 'conditioningScale'],
  ])('rejects %s and writes nothing', async (_name, body, status, code, path) => {
    const problem = await expectProblem(await post('/v1/edits', body), status, code);
    expect(problem.errors?.map((e) => e.path)).toContain(path);
    expect(deps.jobs.writes + deps.queue.sent.length).toBe(0);
  });

  it('sniffs a control video upload like the input', async () => {
    await uploaded('alice', UPLOAD_C, 100, 'video/mp4', new TextEncoder().encode('<!DOCTYPE html><html>'));
    const problem = await expectProblem(await post('/v1/edits', { ...controlvideo, control: { type: 'video', uploadId: UPLOAD_C } }), 422, 'upload_not_video');
    expect(problem.errors?.map((e) => e.path)).toEqual(['control.uploadId']);
  });

  it.each([
    ['the editor', { ...controlvideo }, 'editor'],
    ['a ControlVideo preset', { ...prompts, input: { uploadId: UPLOAD_A }, preset: 'controlvideo-optimized' }, 'preset'],
  ])('answers 422 controlnet_missing at create time when no ControlNet is configured (asked by %s)', async (_name, body, path) => {
    deps = fakeDeps({ controlnetConfigured: false });
    app = createApp(deps);
    await uploaded('alice', UPLOAD_A);
    const problem = await expectProblem(await post('/v1/edits', body), 422, 'controlnet_missing');
    expect(problem.detail).toMatch(/ControlNet/);
    expect(problem.errors).toEqual([{ path, message: expect.any(String), code: 'controlnet_missing' }]);
    expect(deps.jobs.writes + deps.queue.sent.length).toBe(0);
    // FateZero edits are unaffected.
    expect((await post('/v1/edits', { ...prompts, input: { uploadId: UPLOAD_A } })).status).toBe(202);
  });

  describe('multipart', () => {
    const file = (bytes: number, body = videoBytes(bytes)) => new Blob([body], { type: 'video/mp4' });
    function send(request: unknown, files: { video?: Blob; control?: Blob }) {
      const data = new FormData();
      data.set('request', JSON.stringify(request));
      if (files.video) data.set('video', files.video, 'clip.mp4');
      if (files.control) data.set('control', files.control, 'control.mp4');
      return app.request('/v1/edits', { method: 'POST', headers: auth(), body: data });
    }
    const { input: _input, ...knobs } = controlvideo;

    it('stores the control file and defaults the control to it', async () => {
      const objectsBefore = deps.storage.objects.size;
      const response = await send(knobs, { video: file(2000), control: file(700) });
      expect(response.status).toBe(202);
      const job = await response.json();
      expect(job.options.control).toEqual({ type: 'video' });
      expect(job.control).toMatchObject({ bytes: 700, contentType: 'video/mp4' });
      expect(deps.storage.objects.get(uploadKey('alice', job.control.uploadId))?.body).toEqual(videoBytes(700));
      expect(deps.storage.objects.size).toBe(objectsBefore + 2);
    });

    it.each<[string, unknown, { video?: Blob; control?: Blob }, number, string, string]>([
      ['a control file beside canny control', { ...knobs, control: { type: 'canny' } }, { video: file(2000), control: file(700) }, 400, 'validation_failed', 'request.control'],
      ['a control file on a FateZero edit', prompts, { video: file(2000), control: file(700) }, 400, 'validation_failed', 'request.control'],
      ['control video asked for without the file', { ...knobs, control: { type: 'video' } }, { video: file(2000) }, 400, 'validation_failed', 'request.control'],
      ['a control file that is not a video', knobs, { video: file(2000), control: file(500, new Uint8Array(500)) }, 422, 'upload_not_video', 'control'],
    ])('rejects %s and writes nothing', async (_name, request, files, status, code, path) => {
      const objectsBefore = deps.storage.objects.size;
      const problem = await expectProblem(await send(request, files), status, code);
      expect(problem.errors?.map((e) => e.path)).toContain(path);
      expect(deps.storage.objects.size - objectsBefore + deps.jobs.writes + deps.queue.sent.length).toBe(0);
    });
  });
});
