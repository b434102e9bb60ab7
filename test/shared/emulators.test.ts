/** The emulator launcher: persistent data folders survive a restart (the local stack relies on it). */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveEditOptions } from '../../shared/edit-request.ts';
import { JobStore } from '../../shared/job-store.ts';
import { startEmulatorHarness } from '../support/emulators.ts';

describe('startEmulators with data folders', () => {
  it('keeps objects and jobs across a restart', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ocd-emulators-'));
    const options = { dataDir: join(root, 's3'), dynamodbDir: join(root, 'dynamodb') };
    try {
      const first = await startEmulatorHarness(options);
      await first.s3.send(new PutObjectCommand({ Bucket: first.resources.bucket, Key: 'uploads/t/a', Body: 'kept', ContentType: 'video/mp4' }));
      const request = { sourcePrompt: 'a', targetPrompt: 'b' };
      const at = '2026-11-26T12:00:00.000Z';
      await new JobStore({ client: first.dynamo, table: first.resources.table }).create({
        id: 'persisted', tenant: 't', state: 'queued', request, options: resolveEditOptions(request),
        input: { uploadId: 'a', key: 'uploads/t/a', bytes: 4, contentType: 'video/mp4' }, mask: null, webhookUrl: null,
        progress: null, timings: {}, outputs: null, error: null, attempt: 0, cancelRequested: false, idempotencyKey: null,
        workerId: null, createdAt: at, updatedAt: at, startedAt: null, finishedAt: null, expiresAt: 2e9, queueLane: 'queued',
      });
      await first.stop();

      const second = await startEmulatorHarness(options);
      try {
        const object = await second.s3.send(new GetObjectCommand({ Bucket: second.resources.bucket, Key: 'uploads/t/a' }));
        expect(await object.Body!.transformToString()).toBe('kept');
        expect((await new JobStore({ client: second.dynamo, table: second.resources.table }).get('persisted'))?.state).toBe('queued');
      } finally {
        await second.stop();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
