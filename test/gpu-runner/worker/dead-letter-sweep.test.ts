import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { encodeQueueMessage } from '../../../shared/queue-message.ts';
import { deadLetterQueueUrl, sweepDeadLetters } from '../../../gpu-runner/worker/dead-letter-sweep.ts';
import { createSqsJobQueue } from '../../../gpu-runner/worker/job-queue.ts';
import { silentLogger } from '../../../gpu-runner/worker/logger.ts';
import { useEmulators } from '../../support/emulators.ts';
import { createTestQueue, getJob, jobStore, seedJob } from './support/jobs.ts';

const env = useEmulators();

async function setLease(id: string, leaseExpiresAt: number): Promise<void> {
  const h = env.current;
  await h.dynamo.send(new UpdateCommand({ TableName: h.resources.table, Key: { id }, UpdateExpression: 'SET leaseExpiresAt = :l', ExpressionAttributeValues: { ':l': leaseExpiresAt } }));
}

describe('sweepDeadLetters', () => {
  it('fails jobs whose message died with them (queued, or running under a lapsed lease) and nothing else', async () => {
    const h = env.current;
    const { queueUrl, dlqUrl } = await createTestQueue(h);
    const store = jobStore(h);
    const stuckRunning = await seedJob(h, { queueUrl, input: Buffer.from('x'), noMessage: true });
    await store.claim(stuckRunning, 0, 'dead-worker');
    await setLease(stuckRunning, Date.now() - 1000);
    const stuckQueued = await seedJob(h, { queueUrl, input: Buffer.from('x'), noMessage: true });
    const alive = await seedJob(h, { queueUrl, input: Buffer.from('x'), noMessage: true });
    await store.claim(alive, 0, 'live-worker');
    await setLease(alive, Date.now() + 60_000);
    for (const body of [encodeQueueMessage(stuckRunning), encodeQueueMessage(stuckQueued), encodeQueueMessage(alive), 'not a job message']) {
      await h.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: body }));
    }

    const failed = await sweepDeadLetters({ sqs: h.sqs, dlqUrl, store, logger: silentLogger });
    expect(failed.sort()).toEqual([stuckRunning, stuckQueued].sort());
    for (const id of [stuckRunning, stuckQueued]) {
      const job = await getJob(h, id);
      expect(job.state).toBe('failed');
      expect(job.error?.code).toBe('internal');
    }
    expect((await getJob(h, alive)).state).toBe('running');
    // Looked-at messages stay hidden: a second sweep finds nothing to do.
    expect(await sweepDeadLetters({ sqs: h.sqs, dlqUrl, store, logger: silentLogger })).toEqual([]);
  });

  it('finds the dead-letter queue from the redrive policy', async () => {
    const h = env.current;
    const { queueUrl, dlqUrl } = await createTestQueue(h, { maxReceiveCount: 4 });
    const policy = await createSqsJobQueue(h.sqs, queueUrl).redrivePolicy();
    expect(policy?.maxReceiveCount).toBe(4);
    expect(await deadLetterQueueUrl(h.sqs, policy!.deadLetterTargetArn)).toBe(dlqUrl);
  });
});
