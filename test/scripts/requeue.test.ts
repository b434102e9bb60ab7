import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmulators } from '../../local/emulators.ts';
import { createDynamoDBDocumentClient, createSQSClient } from '../../shared/aws.ts';
import { JobStore } from '../../shared/job-store.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { requeueUnfinishedJobs } from '../../scripts/local/requeue.ts';
import { queuedJobRecord } from '../support/job-records.ts';

describe('restarting the local stack', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('gives queued and interrupted jobs their queue message back, and leaves finished ones alone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ocd-restart-'));
    dirs.push(root);
    const folders = { dataDir: join(root, 's3'), dynamodbDir: join(root, 'dynamodb') };

    // First run: one queued job, one running (its worker died with the stack), one finished.
    const first = await startEmulators(folders);
    const firstStore = new JobStore({ client: createDynamoDBDocumentClient(first.resources.aws), table: first.resources.table });
    await firstStore.create(queuedJobRecord('JOBQUEUED'));
    await firstStore.create(queuedJobRecord('JOBRUNNING'));
    expect(await firstStore.claim('JOBRUNNING', 0, 'worker-1')).toBeDefined();
    await firstStore.create(queuedJobRecord('JOBDONE', { state: 'succeeded', queueLane: undefined }));
    await first.stop();

    // Second run: the table came back from disk, the in-memory queue did not.
    const second = await startEmulators(folders);
    try {
      expect(await requeueUnfinishedJobs(second.resources)).toBe(2);
      const store = new JobStore({ client: createDynamoDBDocumentClient(second.resources.aws), table: second.resources.table });
      expect((await store.get('JOBRUNNING'))?.state).toBe('queued');
      expect((await store.get('JOBDONE'))?.state).toBe('succeeded');
      const sqs = createSQSClient(second.resources.aws);
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: second.resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const ids = (received.Messages ?? []).map((m) => decodeQueueMessage(m.Body ?? '').jobId).sort();
      expect(ids).toEqual(['JOBQUEUED', 'JOBRUNNING']);
      sqs.destroy();
    } finally {
      await second.stop();
    }
  });
});
