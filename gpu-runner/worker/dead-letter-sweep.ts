/**
 * The last guard against a job left `queued` or `running` forever: when a worker dies during the last allowed
 * receive of a message, SQS moves the message to the dead-letter queue and no worker ever sees it again. An idle
 * worker therefore looks through the dead-letter queue now and then and fails (`internal`) every job there
 * that is still queued, or running under a lease that has run out.
 *
 * The messages themselves stay in the dead-letter queue for operators; the sweep only hides each one for
 * `hideSeconds` so that it is not looked at again and again.
 */
import { GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { JobStore } from '../../shared/job-store.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { describeError, type Logger } from './logger.ts';

export interface DeadLetterSweepOptions {
  sqs: SQSClient;
  dlqUrl: string;
  store: JobStore;
  logger: Logger;
  /** How long a looked-at message stays hidden. @default 3600 */
  hideSeconds?: number;
  /** Messages looked at per sweep (batches of 10). @default 50 */
  maxMessages?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Look through up to `maxMessages` dead letters once. Returns the ids of the jobs it failed.
 */
export async function sweepDeadLetters(options: DeadLetterSweepOptions): Promise<string[]> {
  const { sqs, dlqUrl, store, logger } = options;
  const now = options.now ?? Date.now;
  const failed: string[] = [];
  let seen = 0;
  while (seen < (options.maxMessages ?? 50)) {
    const batch = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: options.hideSeconds ?? 3600, AttributeNames: ['All'] }),
    );
    const messages = batch.Messages ?? [];
    if (messages.length === 0) break;
    seen += messages.length;
    for (const message of messages) {
      let jobId: string;
      try {
        jobId = decodeQueueMessage(message.Body ?? '').jobId;
      } catch {
        continue; // malformed: for operators only
      }
      try {
        const job = await store.get(jobId);
        if (!job) continue;
        const lease = (job as { leaseExpiresAt?: number }).leaseExpiresAt;
        const receives = message.Attributes?.ApproximateReceiveCount ?? '?';
        const error = {
          code: 'internal' as const,
          message: `The edit could not be completed: its queue message was given up after repeated tries (the worker running it stopped) and moved to the dead-letter queue. Create the edit again.`,
        };
        let done = false;
        if (job.state === 'queued') done = await store.failQueued(jobId, error);
        else if (job.state === 'running' && (lease === undefined || lease < now())) done = await store.markFailed(jobId, job.attempt, error);
        if (done) {
          failed.push(jobId);
          logger.warn('failed a job whose message is in the dead-letter queue', { jobId, previousState: job.state, receives });
        }
      } catch (error) {
        logger.warn('dead-letter sweep could not check a job', { jobId, error: describeError(error) });
      }
    }
  }
  return failed;
}

/** The URL of the queue named by a dead-letter target ARN (`arn:aws:sqs:region:account:name`). */
export async function deadLetterQueueUrl(sqs: SQSClient, deadLetterTargetArn: string): Promise<string> {
  const name = deadLetterTargetArn.split(':').at(-1);
  if (!name) throw new Error(`dead-letter target ${JSON.stringify(deadLetterTargetArn)} is not a queue ARN`);
  const result = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!result.QueueUrl) throw new Error(`no URL for dead-letter queue ${name}`);
  return result.QueueUrl;
}
