/**
 * Test harness: start the S3, SQS and DynamoDB emulators on free loopback ports for one test file, with the
 * project's own client factories pointed at them. Reusable by the API, runner and end-to-end suites.
 *
 * @example
 * const env = useEmulators();
 * it('...', async () => { await env.current.s3.send(...) });
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { startEmulators, type EmulatorOptions, type Emulators } from '../../local/emulators.ts';
import { createDynamoDBDocumentClient, createS3Client, createSQSClient } from '../../shared/aws.ts';

export interface EmulatorHarness extends Emulators {
  s3: S3Client;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  /** Remove every message from the queue (between tests). */
  purgeQueue(): Promise<void>;
}

/** Start the emulators and clients once; tear them down when the file's tests end. */
export async function startEmulatorHarness(options: EmulatorOptions = {}): Promise<EmulatorHarness> {
  const emulators = await startEmulators(options);
  const { aws } = emulators.resources;
  const s3 = createS3Client(aws);
  const sqs = createSQSClient(aws);
  const dynamo = createDynamoDBDocumentClient(aws);
  return {
    ...emulators,
    s3,
    sqs,
    dynamo,
    purgeQueue: async () => {
      await sqs.send(new PurgeQueueCommand({ QueueUrl: emulators.resources.queueUrl }));
    },
    stop: async () => {
      s3.destroy();
      sqs.destroy();
      dynamo.destroy();
      await emulators.stop();
    },
  };
}

/** Register beforeAll/afterAll hooks; read `.current` inside tests. */
export function useEmulators(options: EmulatorOptions = {}): { readonly current: EmulatorHarness } {
  let harness: EmulatorHarness | undefined;
  beforeAll(async () => {
    harness = await startEmulatorHarness(options);
  });
  afterAll(async () => {
    await harness?.stop();
  });
  return {
    get current(): EmulatorHarness {
      if (!harness) throw new Error('The emulators are not started: read `.current` inside a test, after beforeAll.');
      return harness;
    },
  };
}
