/**
 * The SQS message that asks a runner to process a job. It carries only the job id and a schema version:
 * everything else lives in the jobs table and the bucket.
 */
import { z } from 'zod';

export const QUEUE_MESSAGE_VERSION = 1;

export const QueueMessageSchema = z.strictObject({
  v: z.literal(QUEUE_MESSAGE_VERSION),
  jobId: z.string().min(1).max(128),
});
export type QueueMessage = z.infer<typeof QueueMessageSchema>;

/** Serialize a message body for SendMessage. */
export function encodeQueueMessage(jobId: string): string {
  return JSON.stringify(QueueMessageSchema.parse({ v: QUEUE_MESSAGE_VERSION, jobId }));
}

/**
 * Parse a received message body.
 *
 * @throws Error naming the body and the expected shape when it is not JSON or not `{ v: 1, jobId }`;
 *   such a message can never succeed, so a runner should delete it (or let it go to the dead-letter queue).
 */
export function decodeQueueMessage(body: string): QueueMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error(`Queue message body is not JSON: ${JSON.stringify(body.slice(0, 200))}; expected {"v":1,"jobId":"..."}.`);
  }
  const parsed = QueueMessageSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`Queue message ${JSON.stringify(body.slice(0, 200))} is not a version ${QUEUE_MESSAGE_VERSION} job message: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}.`);
  }
  return parsed.data;
}
