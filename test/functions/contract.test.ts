/**
 * Contract tests: the app with its real AWS-backed dependencies against the S3 (s3rver), SQS (fauxqs) and
 * DynamoDB (dynalite) emulators on loopback. Only endpoints differ from production.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app.ts';
import { realDeps } from '../../functions/real-deps.ts';
import { EditJobSchema } from '../../shared/api.ts';
import { loadApiConfig } from '../../shared/config.ts';
import { JobStore } from '../../shared/job-store.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { jobOutputKey, uploadKey } from '../../shared/s3-keys.ts';
import { useEmulators } from '../support/emulators.ts';
import { videoBytes } from './fakes.ts';

const emulators = useEmulators();
const KEYS = { alice: 'ocd_contract-alice', bob: 'ocd_contract-bob', carol: 'ocd_contract-carol' };
const prompts = { sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking' };
const VIDEO = videoBytes(4096);

let app: ReturnType<typeof createApp>;
let jobs: JobStore;

const auth = (key = KEYS.alice) => ({ Authorization: `Bearer ${key}` });
const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth(), ...headers }, body: JSON.stringify(body) });

/** Drain the queue: every message currently visible, deleted after reading. */
async function receiveAll(waitSeconds = 1): Promise<string[]> {
  const { sqs, resources } = emulators.current;
  const result = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, AttributeNames: ['All'] }));
  const messages = result.Messages ?? [];
  for (const message of messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: resources.queueUrl, ReceiptHandle: message.ReceiptHandle! }));
  return messages.map((message) => message.Body!);
}

async function jobItemCount(): Promise<number> {
  const { dynamo, resources } = emulators.current;
  const result = await dynamo.send(new ScanCommand({ TableName: resources.table, FilterExpression: 'attribute_exists(#state)', ExpressionAttributeNames: { '#state': 'state' } }));
  return result.Count ?? 0;
}

async function objectCount(): Promise<number> {
  const { s3, resources } = emulators.current;
  return (await s3.send(new ListObjectsV2Command({ Bucket: resources.bucket }))).KeyCount ?? 0;
}

/** Upload through the API's presigned POST with fetch, as a browser or the CLI would. */
async function uploadVideo(key = KEYS.alice, bytes = VIDEO): Promise<string> {
  const ticket = await (await postJson('/v1/uploads', { contentType: 'video/mp4', contentLength: bytes.length }, auth(key))).json();
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields as Record<string, string>)) form.set(name, value);
  form.set('file', new Blob([bytes], { type: 'video/mp4' }), 'clip.mp4');
  const response = await fetch(ticket.url, { method: 'POST', body: form });
  expect(response.ok, `presigned POST answered ${response.status}`).toBe(true);
  return ticket.uploadId;
}

beforeAll(() => {
  const config = loadApiConfig({ ...emulators.current.env, OCD_API_KEYS: `alice:${KEYS.alice},bob:${KEYS.bob},carol:${KEYS.carol}`, OCD_MAX_ACTIVE_JOBS: '50' });
  app = createApp({ ...realDeps(config), log: () => undefined });
  jobs = new JobStore({ client: emulators.current.dynamo, table: config.table });
});

beforeEach(async () => {
  await receiveAll(0);
});

describe('the API against the emulators', () => {
  it('lands a presigned POST upload in the bucket under the tenant prefix', async () => {
    const uploadId = await uploadVideo();
    const { s3, resources } = emulators.current;
    const object = await s3.send(new GetObjectCommand({ Bucket: resources.bucket, Key: uploadKey('alice', uploadId) }));
    expect(object.ContentType).toBe('video/mp4');
    expect(new Uint8Array(await object.Body!.transformToByteArray())).toEqual(VIDEO);
  });

  it('creates one job record and exactly one queue message; an idempotent replay sends nothing', async () => {
    const uploadId = await uploadVideo();
    const recordsBefore = await jobItemCount();
    const body = { ...prompts, input: { uploadId } };
    const created = await postJson('/v1/edits', body, { 'Idempotency-Key': 'contract-1' });
    expect(created.status).toBe(202);
    const job = await created.json();
    expect(await jobItemCount()).toBe(recordsBefore + 1);
    expect((await jobs.get(job.id))!).toMatchObject({ tenant: 'alice', state: 'queued', input: { key: uploadKey('alice', uploadId), bytes: VIDEO.length } });
    expect((await receiveAll()).map(decodeQueueMessage)).toEqual([{ v: 1, jobId: job.id }]);

    const replay = await postJson('/v1/edits', body, { 'Idempotency-Key': 'contract-1' });
    expect(replay.status).toBe(202);
    expect((await replay.json()).id).toBe(job.id);
    expect(await receiveAll()).toEqual([]);
    expect(await jobItemCount()).toBe(recordsBefore + 1);
  });

  it('writes nothing anywhere for a rejected request', async () => {
    const uploadId = await uploadVideo(KEYS.bob);
    const [records, objects] = [await jobItemCount(), await objectCount()];
    const response = await postJson('/v1/edits', { ...prompts, input: { uploadId } }, { 'Idempotency-Key': 'contract-foreign' });
    expect(response.status).toBe(422);
    expect(await jobItemCount()).toBe(records);
    expect(await objectCount()).toBe(objects);
    expect(await receiveAll()).toEqual([]);
  });

  it('refuses an upload that is not a video from its first bytes (a ranged read), writing nothing', async () => {
    const uploadId = await uploadVideo(KEYS.alice, new TextEncoder().encode('%PDF-1.7 not a video at all'));
    const [records, objects] = [await jobItemCount(), await objectCount()];
    const response = await postJson('/v1/edits', { ...prompts, input: { uploadId } });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: 'upload_not_video', detail: expect.stringContaining('25 50 44 46') });
    expect([await jobItemCount(), await objectCount(), await receiveAll()]).toEqual([records, objects, []]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a prompt of zero-width characters', { sourcePrompt: '\u200b\u2060' }, 'prompt_not_visible'],
    ['a word swap of unequal word counts', { targetPrompt: 'a big red tiger walking', fusion: { controller: 'replace' } }, 'replace_word_count'],
    ['a blend word missing from its prompt', { fusion: { blendWords: { source: ['bear'], target: ['lion'] } } }, 'blend_word_not_in_prompt'],
    ['a reweighted word missing from the target prompt', { fusion: { reweight: { bear: 3 } } }, 'reweight_word_not_in_prompt'],
  ])('refuses %s with 400 and its code, writing nothing to S3, DynamoDB or SQS', async (_name, knobs, code) => {
    const uploadId = await uploadVideo();
    const [records, objects] = [await jobItemCount(), await objectCount()];
    const response = await postJson('/v1/edits', { ...prompts, ...knobs, input: { uploadId } }, { 'Idempotency-Key': `rule-${code}` });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code });
    expect([await jobItemCount(), await objectCount(), await receiveAll()]).toEqual([records, objects, []]);
    // The key was not spent: the same key with a valid body creates the job.
    expect((await postJson('/v1/edits', { ...prompts, input: { uploadId } }, { 'Idempotency-Key': `rule-${code}` })).status).toBe(202);
  });

  it('stores a multipart video in the bucket and creates the job in one call', async () => {
    const form = new FormData();
    form.set('request', JSON.stringify(prompts));
    form.set('video', new Blob([VIDEO], { type: 'video/mp4' }), 'clip.mp4');
    const response = await app.request('/v1/edits', { method: 'POST', headers: auth(), body: form });
    expect(response.status).toBe(202);
    const job = await response.json();
    const { s3, resources } = emulators.current;
    const object = await s3.send(new GetObjectCommand({ Bucket: resources.bucket, Key: uploadKey('alice', job.input.uploadId) }));
    expect(new Uint8Array(await object.Body!.transformToByteArray())).toEqual(VIDEO);
    expect((await receiveAll()).map(decodeQueueMessage)).toEqual([{ v: 1, jobId: job.id }]);
  });

  it('answers 404 to another tenant on every job route', async () => {
    const uploadId = await uploadVideo();
    const job = await (await postJson('/v1/edits', { ...prompts, input: { uploadId } })).json();
    expect((await app.request(`/v1/edits/${job.id}`, { headers: auth(KEYS.bob) })).status).toBe(404);
    expect((await app.request(`/v1/edits/${job.id}/cancel`, { method: 'POST', headers: auth(KEYS.bob) })).status).toBe(404);
    const bobsList = await (await app.request('/v1/edits?limit=100', { headers: auth(KEYS.bob) })).json();
    expect(bobsList.data.map((j: { id: string }) => j.id)).not.toContain(job.id);
    expect((await postJson('/v1/edits', { ...prompts, input: { uploadId } }, auth(KEYS.bob))).status).toBe(422);
    expect((await jobs.get(job.id))!.state).toBe('queued');
  });

  it('cancels in each state: queued, running, canceled, succeeded', async () => {
    const uploadId = await uploadVideo();
    const create = async () => (await (await postJson('/v1/edits', { ...prompts, input: { uploadId } })).json()).id as string;
    const cancel = (id: string) => app.request(`/v1/edits/${id}/cancel`, { method: 'POST', headers: auth() });

    const queued = await create();
    expect(await (await cancel(queued)).json()).toMatchObject({ state: 'canceled' });
    expect((await cancel(queued)).status).toBe(200);

    const running = await create();
    await jobs.claim(running, 0, 'worker-1');
    expect(await (await cancel(running)).json()).toMatchObject({ state: 'running', cancelRequested: true });
    expect(await jobs.isCancelRequested(running)).toBe(true);

    const succeeded = await create();
    await jobs.claim(succeeded, 0, 'worker-1');
    await jobs.markSucceeded(succeeded, 1, { video: jobOutputKey(succeeded, 'video') }, { edit: 1 });
    const late = await cancel(succeeded);
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: 'job_finished', detail: expect.stringMatching(/already succeeded before the cancel/) });
  });

  it('admits exactly 4 of 40 concurrent creates at a cap of 4, and capacity returns as jobs end', async () => {
    const capped = createApp({
      ...realDeps(loadApiConfig({ ...emulators.current.env, OCD_API_KEYS: `carol:${KEYS.carol}`, OCD_MAX_ACTIVE_JOBS: '4' })),
      log: () => undefined,
    });
    const uploadId = await uploadVideo(KEYS.carol);
    const create = () =>
      capped.request('/v1/edits', { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth(KEYS.carol) }, body: JSON.stringify({ ...prompts, input: { uploadId } }) });
    const statuses = async (count: number) => {
      const responses = await Promise.all(Array.from({ length: count }, create));
      const accepted: string[] = [];
      for (const response of responses) if (response.status === 202) accepted.push((await response.json()).id);
      return { accepted, refused: responses.filter((r) => r.status === 429).length };
    };

    const first = await statuses(40);
    expect(first.accepted).toHaveLength(4);
    expect(first.refused).toBe(36);
    expect((await receiveAll()).map((body) => decodeQueueMessage(body).jobId).sort()).toEqual([...first.accepted].sort());

    // End them in different ways: canceled while queued, succeeded, failed, canceled while running.
    const [queued, toSucceed, toFail, toCancelRunning] = first.accepted;
    expect((await capped.request(`/v1/edits/${queued}/cancel`, { method: 'POST', headers: auth(KEYS.carol) })).status).toBe(200);
    for (const id of [toSucceed, toFail, toCancelRunning]) await jobs.claim(id, 0, 'worker-1');
    await jobs.markSucceeded(toSucceed, 1, {}, {});
    await jobs.markFailed(toFail, 1, { code: 'timeout', message: 'deadline' });
    expect((await capped.request(`/v1/edits/${toCancelRunning}/cancel`, { method: 'POST', headers: auth(KEYS.carol) })).status).toBe(200);
    expect((await statuses(10)).accepted).toHaveLength(3); // the running job still holds its slot
    await jobs.markCanceled(toCancelRunning, 1);
    const last = await statuses(10);
    expect(last.accepted).toHaveLength(1);
    expect(last.refused).toBe(9);
  });

  it('reports a succeeded job with a presigned output URL that downloads the output', async () => {
    const uploadId = await uploadVideo();
    const id = (await (await postJson('/v1/edits', { ...prompts, input: { uploadId } })).json()).id as string;
    const { s3, resources } = emulators.current;
    const output = new TextEncoder().encode('edited video bytes');
    await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: jobOutputKey(id, 'video'), Body: output, ContentType: 'video/mp4' }));
    await jobs.claim(id, 0, 'worker-1');
    await jobs.updateProgress(id, 1, { stage: 'edit', step: 20, steps: 20, fraction: 0.9 }, { edit: 2.5 });
    const queuedView = await (await app.request(`/v1/edits/${id}`, { headers: auth() })).json();
    expect(queuedView.run).toBeNull();
    const run = { ranAs: 'optimized' as const, note: 'the auto mask is empty (no pixel above the threshold); the edit ran as optimized', mask: { areaFraction: 0, source: 'prompt-difference' as const, words: ['bear'] } };
    await jobs.markSucceeded(id, 1, { video: jobOutputKey(id, 'video') }, { edit: 2.5, encode: 0.3 }, run);
    const job = await (await app.request(`/v1/edits/${id}`, { headers: auth() })).json();
    expect(job).toMatchObject({ state: 'succeeded', timings: { edit: 2.5, encode: 0.3 } });
    // What ran, as the runner recorded it, in the documented shape.
    expect(job.run).toEqual(run);
    expect(EditJobSchema.safeParse(job).success).toBe(true);
    const download = await fetch(job.outputs.video.url);
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(output);
  });

  it.each([
    ['not base64 JSON', 'not-a-cursor'],
    ['JSON of the wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['empty key values', Buffer.from('{"createdAt":"","id":"","tenant":"alice"}').toString('base64url')],
    ['a creation time that is no time', Buffer.from('{"createdAt":"yesterday","id":"01JDABCDEF0000000000000001","tenant":"alice"}').toString('base64url')],
    ['another tenant', Buffer.from('{"createdAt":"2026-11-26T12:00:00.000Z","id":"01JDABCDEF0000000000000001","tenant":"bob"}').toString('base64url')],
    ['trailing junk after a valid cursor', `${Buffer.from('{"createdAt":"2026-11-26T12:00:00.000Z","id":"01JDABCDEF0000000000000001","tenant":"alice"}').toString('base64url')}!!`],
  ])('answers a list cursor of %s with 400 invalid_cursor', async (_name, cursor) => {
    const response = await app.request(`/v1/edits?cursor=${encodeURIComponent(cursor)}`, { headers: auth() });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_cursor' });
  });

  it('gives queued jobs an increasing queue position', async () => {
    const uploadId = await uploadVideo();
    const first = await (await postJson('/v1/edits', { ...prompts, input: { uploadId } })).json();
    const second = await (await postJson('/v1/edits', { ...prompts, input: { uploadId } })).json();
    expect(second.queuePosition).toBe(first.queuePosition + 1);
  });
});
