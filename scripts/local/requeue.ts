/**
 * After a restart of the local stack: the jobs table and the bucket persist under .data/, but the embedded SQS
 * keeps its messages in memory. Jobs that were queued, or running when the stack stopped, get their message back
 * (running ones are handed back to `queued` first), so nothing is stranded.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoDBDocumentClient, createSQSClient } from '../../shared/aws.ts';
import type { ResourceConfig } from '../../shared/config.ts';
import { JobStore } from '../../shared/job-store.ts';
import { encodeQueueMessage } from '../../shared/queue-message.ts';

/** @returns how many jobs got a queue message again */
export async function requeueUnfinishedJobs(resources: ResourceConfig): Promise<number> {
  const documents = createDynamoDBDocumentClient(resources.aws);
  const sqs = createSQSClient(resources.aws);
  const jobs = new JobStore({ client: documents, table: resources.table });
  let requeued = 0;
  try {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new ScanCommand({
          TableName: resources.table,
          FilterExpression: '#state IN (:queued, :running)',
          ProjectionExpression: 'id, #state, attempt',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':queued': 'queued', ':running': 'running' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const { id, state, attempt } = item as { id: string; state: string; attempt: number };
        if (state === 'running' && !(await jobs.handBack(id, attempt))) continue;
        await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: encodeQueueMessage(id) }));
        requeued++;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  } finally {
    documents.destroy();
    sqs.destroy();
  }
  return requeued;
}
