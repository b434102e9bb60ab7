/**
 * A client generated from the served /openapi.json works: openapi-typescript's output is committed and stays what
 * the generator makes of today's document (`npx vitest run -u test/functions/generated-client.test.ts` refreshes
 * it), it typechecks on its own under strict settings, and a client built on it (openapi-fetch) drives one
 * create -> poll -> download against the app backed by the S3, SQS and DynamoDB emulators.
 */
import { execFile } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app.ts';
import { realDeps } from '../../functions/real-deps.ts';
import { loadApiConfig } from '../../shared/config.ts';
import { JobStore } from '../../shared/job-store.ts';
import { jobOutputKey } from '../../shared/s3-keys.ts';
import { useEmulators } from '../support/emulators.ts';
import { apiClient, type CreatedEdit } from './api-client.ts';
import { fakeDeps, videoBytes } from './fakes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const GENERATED = './generated/openapi-types.ts';
const KEY = 'ocd_generated-client';

describe('the generated client types', () => {
  it('are what openapi-typescript generates from the served document', async () => {
    const document = await (await createApp(fakeDeps({ publicBaseUrl: 'https://api.ocd-video.dev' })).request('/openapi.json')).json();
    await expect(COMMENT_HEADER + astToString(await openapiTS(document))).toMatchFileSnapshot(GENERATED);
  });

  it('typecheck on their own, with the client built on them, under strict settings', async () => {
    // Only these two files and the libraries they import, library declarations included, without Node's types.
    const dir = await mkdtemp(join(tmpdir(), 'api-types-'));
    const files = [resolve(import.meta.dirname, GENERATED), resolve(import.meta.dirname, 'api-client.ts')];
    const compilerOptions = { noEmit: true, strict: true, skipLibCheck: false, target: 'es2022', lib: ['es2022', 'dom'], module: 'nodenext', moduleResolution: 'nodenext', allowImportingTsExtensions: true, types: [] };
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
    const result = await promisify(execFile)(resolve(ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: ROOT }).catch((error: { stdout?: string }) => ({
      stdout: error.stdout ?? String(error),
    }));
    await rm(dir, { recursive: true, force: true });
    expect(result.stdout).toBe('');
  }, 90_000);
});

describe('a client built on the generated types', () => {
  const emulators = useEmulators();
  let api: ReturnType<typeof apiClient>;
  let jobs: JobStore;

  beforeAll(() => {
    const config = loadApiConfig({ ...emulators.current.env, OCD_API_KEYS: `carol:${KEY}` });
    const app = createApp({ ...realDeps(config), log: () => undefined });
    api = apiClient('http://api.test', KEY, async (request) => app.fetch(request));
    jobs = new JobStore({ client: emulators.current.dynamo, table: config.table });
  });

  /** What a runner does to a job, one state per poll: claim it, then store an output and succeed. */
  async function runnerStep(job: CreatedEdit, output: Uint8Array): Promise<void> {
    const current = (await jobs.get(job.id))!;
    if (current.state === 'queued') await jobs.claim(job.id, 0, 'worker-test');
    if (current.state === 'running') {
      const { s3, resources } = emulators.current;
      await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: jobOutputKey(job.id, 'video'), Body: output, ContentType: 'video/mp4' }));
      await jobs.markSucceeded(job.id, current.attempt, { video: jobOutputKey(job.id, 'video') }, { edit: 1 });
    }
  }

  it('creates an edit, polls it to success and downloads the output', async () => {
    const video = videoBytes(3000);
    const ticket = await api.POST('/v1/uploads', { body: { contentType: 'video/mp4', contentLength: video.length, filename: 'clip.mp4' } });
    expect(ticket.error).toBeUndefined();
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.data!.fields)) form.set(name, value);
    form.set('file', new Blob([video], { type: 'video/mp4' }), 'clip.mp4');
    expect((await fetch(ticket.data!.url, { method: 'POST', body: form })).ok).toBe(true);

    const created = await api.POST('/v1/edits', {
      params: { header: { 'idempotency-key': 'generated-client-1' } },
      body: { sourcePrompt: 'a brown bear walking', targetPrompt: 'a red tiger walking', preset: 'optimized', input: { uploadId: ticket.data!.uploadId } },
    });
    expect(created.response.status).toBe(202);
    const job = created.data!;
    expect(job.state).toBe('queued');

    const output = new TextEncoder().encode('the edited clip');
    const states: string[] = [];
    let polled = job;
    for (let poll = 0; poll < 5 && polled.state !== 'succeeded'; poll++) {
      await runnerStep(job, output);
      const { data, error } = await api.GET('/v1/edits/{id}', { params: { path: { id: job.id } } });
      expect(error).toBeUndefined();
      polled = data!;
      states.push(polled.state);
    }
    expect(states).toEqual(['running', 'succeeded']);

    const download = await fetch(polled.outputs!.video!.url);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(output);
    const listed = await api.GET('/v1/edits', { params: { query: { limit: 5 } } });
    expect(listed.data!.data.map((edit) => edit.id)).toContain(job.id);
  });

  it('gets problem+json errors typed as the document says', async () => {
    const missing = await api.GET('/v1/edits/{id}', { params: { path: { id: '01JDNOSUCHJOB0000000000000' } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'not_found', status: 404 });
  });
});
