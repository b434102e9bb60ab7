/**
 * The SQS side of the loop: long-poll one message at a time, stretch its visibility while the job runs, delete
 * it when the job reached an end state, or give it back.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface ReceivedMessage {
  body: string;
  receiptHandle: string;
  messageId: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
}

export interface JobQueue {
  /** Wait up to `waitSeconds` for one message; undefined when none came (or `signal` aborted the wait). */
  receive(waitSeconds: number, signal?: AbortSignal): Promise<ReceivedMessage | undefined>;
  /** Make the message invisible for `seconds` from now (0 = visible again at once). */
  setVisibility(message: ReceivedMessage, seconds: number): Promise<void>;
  delete(message: ReceivedMessage): Promise<void>;
  /** The queue's redrive policy, undefined when it has no dead-letter queue. */
  redrivePolicy(): Promise<{ maxReceiveCount: number; deadLetterTargetArn: string } | undefined>;
}

/** An SQS queue as a `JobQueue`. */
export function createSqsJobQueue(sqs: SQSClient, queueUrl: string): JobQueue {
  return {
    async receive(waitSeconds, signal) {
      try {
        const result = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 1, // one GPU, one job
            WaitTimeSeconds: waitSeconds,
            // The legacy name: emulators return ApproximateReceiveCount only for AttributeNames ['All'].
            AttributeNames: ['All'],
          }),
          { abortSignal: signal },
        );
        const message = result.Messages?.[0];
        if (!message?.ReceiptHandle) return undefined;
        return {
          body: message.Body ?? '',
          receiptHandle: message.ReceiptHandle,
          messageId: message.MessageId ?? '',
          receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? '1'),
        };
      } catch (error) {
        if (signal?.aborted) return undefined;
        throw error;
      }
    },
    async setVisibility(message, seconds) {
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle, VisibilityTimeout: seconds }));
    },
    async delete(message) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle }));
    },
    async redrivePolicy() {
      const result = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
      const policy = result.Attributes?.RedrivePolicy;
      if (!policy) return undefined;
      const parsed = JSON.parse(policy) as { maxReceiveCount?: unknown; deadLetterTargetArn?: unknown };
      const maxReceiveCount = Number(parsed.maxReceiveCount);
      if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || typeof parsed.deadLetterTargetArn !== 'string') return undefined;
      return { maxReceiveCount, deadLetterTargetArn: parsed.deadLetterTargetArn };
    },
  };
}
