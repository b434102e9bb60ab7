/**
 * `WorkerJobPort` over the shared job store (shared/job-store.ts), plus the one thing it does not have: a lease.
 *
 * The lease (`leaseExpiresAt`, epoch ms, on the job item) is how a worker tells a job whose worker died from one
 * that is still running: every heartbeat extends it, always just before it extends the message's visibility. So
 * when a message for a `running` job is received again, either its lease has run out (the worker died: take
 * the job over with attempt + 1) or it has not (an SQS duplicate: leave it to the live worker).
 */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobRecord } from '../../shared/job.ts';
import type { JobStore } from '../../shared/job-store.ts';
import type { JobOutputsWritten, JobProgressUpdate, OwnershipCheck, WorkerJob, WorkerJobPort } from './job-port.ts';

const CONDITION_FAILED = 'ConditionalCheckFailedException';

export interface DynamoJobPortOptions {
  store: JobStore;
  /** The same client and table the store uses, for the lease writes. */
  client: DynamoDBDocumentClient;
  table: string;
  /** @default Date.now */
  now?: () => number;
}

export function createDynamoJobPort(options: DynamoJobPortOptions): WorkerJobPort {
  const { store, client, table } = options;
  const now = options.now ?? Date.now;

  /** A conditional update on a running job at `attempt`; undefined when the condition failed. */
  async function updateRunning(
    id: string,
    attempt: number,
    set: string,
    values: Record<string, unknown>,
    extraCondition = '',
  ): Promise<JobRecord | undefined> {
    try {
      const result = await client.send(
        new UpdateCommand({
          TableName: table,
          Key: { id },
          UpdateExpression: `SET ${set}`,
          ConditionExpression: `attribute_exists(id) AND #state = :running AND attempt = :attempt${extraCondition}`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running', ':attempt': attempt, ...values },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes as JobRecord;
    } catch (error) {
      if (error instanceof Error && error.name === CONDITION_FAILED) return undefined;
      throw error;
    }
  }

  const renewLease = async (id: string, attempt: number, leaseMs: number): Promise<OwnershipCheck> => {
    const job = await updateRunning(id, attempt, 'leaseExpiresAt = :lease', { ':lease': now() + leaseMs });
    return job ? { owned: true, cancelRequested: job.cancelRequested } : { owned: false, cancelRequested: false };
  };

  return {
    async get(id) {
      const record = await store.get(id);
      return record && toWorkerJob(record);
    },

    async claim(job, owner, leaseMs) {
      let claimed: JobRecord | undefined;
      if (job.state === 'queued') {
        claimed = await store.claim(job.id, job.attempt, owner);
      } else if (job.state === 'running') {
        // Take over from a dead worker: only if the lease it held has run out.
        const at = new Date(now()).toISOString();
        claimed = await updateRunning(
          job.id,
          job.attempt,
          'attempt = :next, workerId = :owner, startedAt = :at, updatedAt = :at, leaseExpiresAt = :lease, progress = :progress',
          {
            ':next': job.attempt + 1,
            ':owner': owner,
            ':at': at,
            ':lease': now() + leaseMs,
            ':now': now(),
            ':progress': { stage: 'download', step: 0, steps: 0, fraction: 0 },
          },
          ' AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt < :now)',
        );
      }
      if (!claimed) return undefined;
      const lease = await renewLease(claimed.id, claimed.attempt, leaseMs);
      return lease.owned ? toWorkerJob(claimed) : undefined;
    },

    renewLease,

    async reportProgress(id, attempt, progress: JobProgressUpdate) {
      const result = await store.updateProgress(id, attempt, progress);
      return result ? { owned: true, cancelRequested: result.cancelRequested } : { owned: false, cancelRequested: false };
    },

    async isCancelRequested(id, attempt) {
      const record = await store.get(id);
      const owned = record?.state === 'running' && record.attempt === attempt;
      return { owned, cancelRequested: owned && record.cancelRequested };
    },

    markSucceeded: (id, attempt, outputs: JobOutputsWritten, timings, run) =>
      store.markSucceeded(id, attempt, { video: outputs.outputKey, preview: outputs.previewKey, report: outputs.reportKey }, timings, run ?? null),
    markFailed: (id, attempt, error) => store.markFailed(id, attempt, error),
    markCanceled: (id, attempt) => store.markCanceled(id, attempt),
    handBack: (id, attempt) => store.handBack(id, attempt),
  };
}

/** The worker's view of a job record. */
export function toWorkerJob(record: JobRecord): WorkerJob {
  const lease = (record as JobRecord & { leaseExpiresAt?: unknown }).leaseExpiresAt;
  return {
    id: record.id,
    state: record.state,
    attempt: record.attempt,
    createdAt: record.createdAt,
    inputKey: record.input.key,
    ...(record.mask ? { maskKey: record.mask.key } : {}),
    ...(record.control ? { controlKey: record.control.key } : {}),
    options: record.options,
    ...(record.webhookUrl ? { webhookUrl: record.webhookUrl } : {}),
    cancelRequested: record.cancelRequested,
    ...(typeof lease === 'number' ? { leaseExpiresAt: lease } : {}),
  };
}
