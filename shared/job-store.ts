/**
 * The job store over the DynamoDB jobs table. Every state change is a conditional write on the current state
 * (and, for a runner, the attempt it claimed), so two runners can never both own a job, a redelivered
 * message cannot re-run a finished job, and a stale runner cannot overwrite a newer attempt.
 *
 * Table layout (infra and the emulator harness create it from `jobsTableDefinition`):
 * - partition key `id` (S): job ids, and idempotency items `idem#{tenant}#{sha256(key)}`;
 * - GSI `byTenant` (`tenant` S, `createdAt` S): a tenant's jobs, newest first;
 * - GSI `byQueue` (`queueLane` S, `createdAt` S), sparse: only queued jobs carry `queueLane`, so counting
 *   the older items gives a queue position;
 * - TTL attribute `expiresAt` (epoch seconds);
 * - admission items `admission#{tenant}` (see `admit`): the map `holders` of the tenant's active job ids, which
 *   is what the per-tenant cap counts. They carry neither `tenant` nor `createdAt`, so no index sees them.
 * - unsent items `unsent#{jobId}` (see `noteUnsent`): a create's promise to send the job's queue message, written
 *   before the job and deleted once the message is sent. They sit in the `byQueue` index under the lane
 *   `unsent`, so a sweep finds the ones a crashed create left behind without scanning the table.
 */
import { createHash } from 'node:crypto';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobError } from './errors.ts';
import { isFinished, JobRecordSchema, type JobOutputKeys, type JobProgress, type JobRecord, type JobRun, type JobTimings } from './job.ts';

/** Names the infra stack and the emulator harness must use for the jobs table. */
export const JOBS_TABLE = {
  partitionKey: 'id',
  tenantIndex: { name: 'byTenant', partitionKey: 'tenant', sortKey: 'createdAt' },
  queueIndex: { name: 'byQueue', partitionKey: 'queueLane', sortKey: 'createdAt' },
  ttlAttribute: 'expiresAt',
} as const;

/** CreateTable input for the jobs table (on-demand billing). */
export function jobsTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'tenant', AttributeType: 'S' },
      { AttributeName: 'createdAt', AttributeType: 'S' },
      { AttributeName: 'queueLane', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: JOBS_TABLE.tenantIndex.name,
        KeySchema: [
          { AttributeName: 'tenant', KeyType: 'HASH' },
          { AttributeName: 'createdAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: JOBS_TABLE.queueIndex.name,
        KeySchema: [
          { AttributeName: 'queueLane', KeyType: 'HASH' },
          { AttributeName: 'createdAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  };
}

/** The list cursor is not one this store issued for this tenant. */
export class InvalidCursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCursorError';
  }
}

/** The outcome of a caller's cancel. */
export type CancelOutcome =
  | { kind: 'canceled'; job: JobRecord } // was queued (or already canceled): canceled now
  | { kind: 'cancel_requested'; job: JobRecord } // running: the runner stops at its next step
  | { kind: 'finished'; job: JobRecord } // succeeded or failed: nothing to cancel
  | { kind: 'not_found' };

/** The outcome of reserving an idempotency key. */
export type IdempotencyReservation = { reserved: true } | { reserved: false; jobId: string; requestHash: string };

/** A create's pending queue message (see `noteUnsent`). */
export interface UnsentJob {
  jobId: string;
  tenant: string;
  /** When the create promised the message (ISO 8601). */
  createdAt: string;
}

/** The outcome of asking for one of the tenant's active-job slots. */
export type Admission = { admitted: true } | { admitted: false; active: number };

export interface JobStoreOptions {
  client: DynamoDBDocumentClient;
  table: string;
  /** @default () => new Date() */
  clock?: () => Date;
  /**
   * How long a create may take between its first write (idempotency key, admission) and the job record. A key
   * or slot whose job is still missing after this long belongs to a create that died, and is taken over.
   * @default 15000
   */
  createLeaseMs?: number;
}

const CONDITION_FAILED = 'ConditionalCheckFailedException';
const MAX_CANCEL_ROUNDS = 3;
const MAX_ADMISSION_ROUNDS = 4;
const DEFAULT_CREATE_LEASE_MS = 15_000;

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === CONDITION_FAILED;
}

export class JobStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly clock: () => Date;
  private readonly createLeaseMs: number;

  constructor(options: JobStoreOptions) {
    if (!options.table) throw new Error('JobStore needs `table`: the jobs table name (OCD_TABLE).');
    this.client = options.client;
    this.table = options.table;
    this.clock = options.clock ?? (() => new Date());
    this.createLeaseMs = options.createLeaseMs ?? DEFAULT_CREATE_LEASE_MS;
  }

  private now(): string {
    return this.clock().toISOString();
  }

  /**
   * Write a new job.
   *
   * @throws Error when a job with the same id exists (ids come from a generator that never repeats).
   */
  async create(job: JobRecord): Promise<void> {
    const item = JobRecordSchema.parse(job);
    await this.client.send(
      new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
    );
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }));
    if (!result.Item || !('state' in result.Item)) return undefined;
    return result.Item as JobRecord;
  }

  /** The job if it exists and belongs to the tenant; another tenant's job reads as missing. */
  async getForTenant(id: string, tenant: string): Promise<JobRecord | undefined> {
    const job = await this.get(id);
    return job && job.tenant === tenant ? job : undefined;
  }

  /**
   * A tenant's jobs, newest first.
   *
   * @throws InvalidCursorError when `cursor` was not issued for this tenant by this store.
   */
  async listByTenant(tenant: string, page: { limit: number; cursor?: string }): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: JOBS_TABLE.tenantIndex.name,
        KeyConditionExpression: 'tenant = :tenant',
        ExpressionAttributeValues: { ':tenant': tenant },
        ScanIndexForward: false,
        Limit: page.limit,
        ...(page.cursor ? { ExclusiveStartKey: decodeCursor(page.cursor, tenant) } : {}),
      }),
    );
    const jobs = (result.Items ?? []) as JobRecord[];
    return { jobs, nextCursor: result.LastEvaluatedKey ? encodeCursor(result.LastEvaluatedKey) : null };
  }

  /** Queued plus running jobs of a tenant (for the active-job cap). */
  async countActive(tenant: string): Promise<number> {
    return this.count({
      TableName: this.table,
      IndexName: JOBS_TABLE.tenantIndex.name,
      KeyConditionExpression: 'tenant = :tenant',
      FilterExpression: '#state IN (:queued, :running)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':tenant': tenant, ':queued': 'queued', ':running': 'running' },
    });
  }

  /** How many queued jobs (of every tenant) were created before this one: 0 means next in line. */
  async queuePosition(job: Pick<JobRecord, 'createdAt'>): Promise<number> {
    return this.count({
      TableName: this.table,
      IndexName: JOBS_TABLE.queueIndex.name,
      KeyConditionExpression: 'queueLane = :lane AND createdAt < :createdAt',
      ExpressionAttributeValues: { ':lane': 'queued', ':createdAt': job.createdAt },
    });
  }

  private async count(input: ConstructorParameters<typeof QueryCommand>[0]): Promise<number> {
    let total = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: startKey }));
      total += result.Count ?? 0;
      startKey = result.LastEvaluatedKey;
    } while (startKey);
    return total;
  }

  /**
   * Reserve an idempotency key for a job about to be created. When the key is already taken, returns the job
   * it points to and the hash of the request that took it; except when that job was never written and the
   * reservation is older than the create lease: the create that reserved it died, and this one takes it over.
   */
  async reserveIdempotencyKey(tenant: string, key: string, requestHash: string, jobId: string, expiresAt: number): Promise<IdempotencyReservation> {
    const id = idempotencyItemId(tenant, key);
    const item = { id, jobId, requestHash, expiresAt, createdAt: this.now() };
    if (await this.putIf(item, 'attribute_not_exists(id)')) return { reserved: true };
    const held = await this.readReservation(id);
    if (!held) return this.reserveIdempotencyKey(tenant, key, requestHash, jobId, expiresAt); // expired in between
    if (await this.isAbandoned(held.jobId, held.createdAt)) {
      const takenOver = await this.putIf(item, 'jobId = :stale AND createdAt = :staleAt', { ':stale': held.jobId, ':staleAt': held.createdAt });
      if (takenOver) return { reserved: true };
      return this.reserveIdempotencyKey(tenant, key, requestHash, jobId, expiresAt); // another create took it first
    }
    return { reserved: false, jobId: held.jobId, requestHash: held.requestHash };
  }

  private async readReservation(id: string): Promise<{ jobId: string; requestHash: string; createdAt: string } | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }));
    return result.Item as { jobId: string; requestHash: string; createdAt: string } | undefined;
  }

  /** A create that wrote `since` and still has no job record after the create lease has died. */
  private async isAbandoned(jobId: string, since: string | number): Promise<boolean> {
    const age = this.clock().getTime() - (typeof since === 'number' ? since : Date.parse(since));
    if (!(age > this.createLeaseMs)) return false;
    return (await this.get(jobId)) === undefined;
  }

  /** A conditional put; false when the condition failed. */
  private async putIf(item: Record<string, unknown>, condition: string, values?: Record<string, unknown>): Promise<boolean> {
    try {
      await this.client.send(new PutCommand({ TableName: this.table, Item: item, ConditionExpression: condition, ...(values ? { ExpressionAttributeValues: values } : {}) }));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The job and request hash an idempotency key points to, if the key was used. */
  async findIdempotencyKey(tenant: string, key: string): Promise<{ jobId: string; requestHash: string } | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { id: idempotencyItemId(tenant, key) }, ConsistentRead: true }),
    );
    const item = result.Item as { jobId: string; requestHash: string } | undefined;
    return item && { jobId: item.jobId, requestHash: item.requestHash };
  }

  /**
   * Before a create writes its job: note that the job's queue message is still to be sent. `markSent` deletes the
   * note once it is; a note that outlives the create lease belongs to a create that died between writing the job
   * and sending its message, and `staleUnsent` lists it for a sweep to send the message (or clean up).
   */
  async noteUnsent(tenant: string, jobId: string, expiresAt: number): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.table,
        // `owner`, not `tenant`: the byTenant index must not list it as a job
        Item: { id: unsentItemId(jobId), jobId, owner: tenant, queueLane: UNSENT_LANE, createdAt: this.now(), expiresAt },
      }),
    );
  }

  /** The job's queue message was sent: drop its note. Idempotent. */
  async markSent(jobId: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.table, Key: { id: unsentItemId(jobId) } }));
  }

  /** The job's pending-message note, if its message is not known to be sent. */
  async findUnsent(jobId: string): Promise<UnsentJob | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.table, Key: { id: unsentItemId(jobId) }, ConsistentRead: true }));
    const item = result.Item as { jobId: string; owner: string; createdAt: string } | undefined;
    return item && { jobId: item.jobId, tenant: item.owner, createdAt: item.createdAt };
  }

  /** Up to `limit` notes older than the create lease: their creates died before sending (oldest first). */
  async staleUnsent(limit = 25): Promise<UnsentJob[]> {
    const before = new Date(this.clock().getTime() - this.createLeaseMs).toISOString();
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: JOBS_TABLE.queueIndex.name,
        KeyConditionExpression: 'queueLane = :lane AND createdAt < :before',
        ExpressionAttributeValues: { ':lane': UNSENT_LANE, ':before': before },
        Limit: limit,
      }),
    );
    // The index holds keys only: read each note for its tenant.
    const notes = await Promise.all((result.Items ?? []).map((key) => this.findUnsent(String(key.id).slice(UNSENT_PREFIX.length))));
    return notes.filter((note): note is UnsentJob => note !== undefined);
  }

  /** Free a key whose job could not be created, so that a retry can create it. */
  async releaseIdempotencyKey(tenant: string, key: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.table, Key: { id: idempotencyItemId(tenant, key) } }));
  }

  /**
   * Take one of the tenant's `cap` active-job slots for `jobId`, atomically: one conditional update of the
   * tenant's admission item adds the job to its `holders` map only while the map has fewer than `cap` entries,
   * so concurrent creates can never admit more than `cap` jobs. The slot is given back by `releaseAdmission`
   * when the job ends (every end-state write of this store does it).
   *
   * When the map is full, holders that hold a slot without an active job (the job ended but its release was
   * lost in a crash, or the create died before writing the job) are cleared first, so capacity always returns.
   */
  async admit(tenant: string, jobId: string, cap: number): Promise<Admission> {
    const id = admissionItemId(tenant);
    for (let round = 0; round < MAX_ADMISSION_ROUNDS; round++) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { id },
            UpdateExpression: 'SET holders.#job = :admittedAt',
            ConditionExpression: 'attribute_exists(holders) AND size(holders) < :cap',
            ExpressionAttributeNames: { '#job': jobId },
            ExpressionAttributeValues: { ':admittedAt': this.clock().getTime(), ':cap': cap },
          }),
        );
        return { admitted: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const holders = await this.admissionHolders(tenant);
      if (holders === undefined) {
        await this.putIf({ id, holders: {} }, 'attribute_not_exists(id)'); // first job of this tenant
        continue;
      }
      if (Object.keys(holders).length < cap) continue; // a slot came free in between
      if ((await this.clearStaleHolders(tenant, holders)) === 0) return { admitted: false, active: Object.keys(holders).length };
    }
    return { admitted: false, active: Object.keys((await this.admissionHolders(tenant)) ?? {}).length };
  }

  /** Give back the slot `jobId` holds; idempotent (a second release, or one for a job without a slot, does nothing). */
  async releaseAdmission(tenant: string, jobId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: admissionItemId(tenant) },
          UpdateExpression: 'REMOVE holders.#job',
          ConditionExpression: 'attribute_exists(holders.#job)',
          ExpressionAttributeNames: { '#job': jobId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** The jobs holding the tenant's slots (job id -> admitted at, epoch ms), or undefined before its first job. */
  async admissionHolders(tenant: string): Promise<Record<string, number> | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.table, Key: { id: admissionItemId(tenant) }, ConsistentRead: true }));
    return (result.Item as { holders?: Record<string, number> } | undefined)?.holders;
  }

  /** Clear slots held without an active job; returns how many were cleared. */
  private async clearStaleHolders(tenant: string, holders: Record<string, number>): Promise<number> {
    let cleared = 0;
    for (const [jobId, admittedAt] of Object.entries(holders)) {
      const job = await this.get(jobId);
      const stale = job ? isFinished(job.state) : await this.isAbandoned(jobId, admittedAt);
      if (!stale) continue;
      await this.releaseAdmission(tenant, jobId);
      cleared++;
    }
    return cleared;
  }

  /** After an end-state write: give the slot back. A failure here is repaired by the next full `admit`. */
  private async released(job: JobRecord | undefined): Promise<JobRecord | undefined> {
    if (job) await this.releaseAdmission(job.tenant, job.id).catch(() => undefined);
    return job;
  }

  /**
   * Runner: take a queued job. `attempt` is the value the runner read; the claim succeeds only if nobody
   * claimed it since, and sets attempt + 1.
   *
   * @returns the running job, or undefined if the job is not queued at that attempt any more.
   */
  async claim(id: string, attempt: number, workerId: string): Promise<JobRecord | undefined> {
    const now = this.now();
    return this.update(id, {
      UpdateExpression:
        'SET #state = :running, attempt = :next, startedAt = :now, updatedAt = :now, workerId = :worker, progress = :progress, #error = :null REMOVE queueLane',
      ConditionExpression: '#state = :queued AND attempt = :attempt',
      ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
      ExpressionAttributeValues: {
        ':running': 'running',
        ':queued': 'queued',
        ':attempt': attempt,
        ':next': attempt + 1,
        ':now': now,
        ':worker': workerId,
        ':progress': { stage: 'download', step: 0, steps: 0, fraction: 0 },
        ':null': null,
      },
    });
  }

  /**
   * Runner heartbeat: record progress (and, optionally, the timings so far) while the job is running at this
   * attempt.
   *
   * @returns whether the caller asked to cancel, or undefined when this runner no longer owns the job.
   */
  async updateProgress(id: string, attempt: number, progress: JobProgress, timings?: JobTimings): Promise<{ cancelRequested: boolean } | undefined> {
    const job = await this.update(id, {
      UpdateExpression: `SET progress = :progress, updatedAt = :now${timings ? ', timings = :timings' : ''}`,
      ConditionExpression: '#state = :running AND attempt = :attempt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':progress': progress,
        ':now': this.now(),
        ':running': 'running',
        ':attempt': attempt,
        ...(timings ? { ':timings': timings } : {}),
      },
    });
    return job && { cancelRequested: job.cancelRequested };
  }

  /**
   * Runner: the job finished with these outputs. False when this runner no longer owns the job, or when the
   * caller asked to cancel first: a cancel the API acknowledged always wins over a success not yet recorded
   * (the runner then ends the job `canceled`). `run`: what actually ran, from the run report (null when it does
   * not say).
   */
  async markSucceeded(id: string, attempt: number, outputs: JobOutputKeys, timings: JobTimings, run: JobRun | null = null): Promise<boolean> {
    const now = this.now();
    const job = await this.finishRunning(id, attempt, 'succeeded', {
      ':outputs': outputs,
      ':timings': timings,
      ':progress': { stage: 'done', step: 1, steps: 1, fraction: 1 },
      ':run': run,
      ':false': false,
    }, 'outputs = :outputs, timings = :timings, progress = :progress, #run = :run', now, ' AND cancelRequested = :false');
    return job !== undefined;
  }

  /** Runner: the job failed with a stable code. False when this runner no longer owns the job. */
  async markFailed(id: string, attempt: number, error: JobError, timings?: JobTimings): Promise<boolean> {
    const job = await this.finishRunning(
      id,
      attempt,
      'failed',
      { ':error': error, ...(timings ? { ':timings': timings } : {}) },
      `#error = :error${timings ? ', timings = :timings' : ''}`,
      this.now(),
    );
    return job !== undefined;
  }

  /** Runner: it stopped because the caller canceled. False when this runner no longer owns the job. */
  async markCanceled(id: string, attempt: number): Promise<boolean> {
    const error: JobError = { code: 'canceled', message: 'Canceled by the caller while running.' };
    const job = await this.finishRunning(id, attempt, 'canceled', { ':error': error }, '#error = :error', this.now());
    return job !== undefined;
  }

  private async finishRunning(id: string, attempt: number, state: 'succeeded' | 'failed' | 'canceled', values: Record<string, unknown>, set: string, now: string, extraCondition = '') {
    return this.released(await this.update(id, {
      UpdateExpression: `SET #state = :final, finishedAt = :now, updatedAt = :now, ${set}`,
      ConditionExpression: `#state = :running AND attempt = :attempt${extraCondition}`,
      ExpressionAttributeNames: {
        '#state': 'state',
        ...(set.includes('#error') ? { '#error': 'error' } : {}),
        ...(set.includes('#run') ? { '#run': 'run' } : {}),
      },
      ExpressionAttributeValues: { ':final': state, ':now': now, ':running': 'running', ':attempt': attempt, ...values },
    }));
  }

  /**
   * A queued job that can never run (its message could not be sent, or it is invalid) fails at once.
   * False when it is not queued any more.
   */
  async failQueued(id: string, error: JobError): Promise<boolean> {
    const now = this.now();
    const job = await this.update(id, {
      UpdateExpression: 'SET #state = :failed, #error = :error, finishedAt = :now, updatedAt = :now REMOVE queueLane',
      ConditionExpression: '#state = :queued',
      ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
      ExpressionAttributeValues: { ':failed': 'failed', ':queued': 'queued', ':error': error, ':now': now },
    });
    await this.released(job);
    return job !== undefined;
  }

  /**
   * Runner: give a running job back to the queue (shutdown, lost resources); progress is reset and the next
   * claim must present the current attempt. False when this runner no longer owns the job.
   */
  async handBack(id: string, attempt: number): Promise<boolean> {
    const job = await this.update(id, {
      UpdateExpression: 'SET #state = :queued, queueLane = :queued, progress = :null, workerId = :null, updatedAt = :now',
      ConditionExpression: '#state = :running AND attempt = :attempt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':queued': 'queued', ':running': 'running', ':attempt': attempt, ':null': null, ':now': this.now() },
    });
    return job !== undefined;
  }

  /** Runner: whether the caller asked to cancel. */
  async isCancelRequested(id: string): Promise<boolean> {
    return (await this.get(id))?.cancelRequested ?? false;
  }

  /**
   * Caller: cancel a job. Queued -> canceled at once; running -> cancel requested (the runner stops at its
   * next step); canceled stays canceled (idempotent); succeeded or failed -> `finished`.
   */
  async requestCancel(id: string, tenant: string): Promise<CancelOutcome> {
    for (let round = 0; round < MAX_CANCEL_ROUNDS; round++) {
      const now = this.now();
      const canceled = await this.update(id, {
        UpdateExpression: 'SET #state = :canceled, cancelRequested = :true, #error = :error, finishedAt = :now, updatedAt = :now REMOVE queueLane',
        ConditionExpression: 'tenant = :tenant AND #state = :queued',
        ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
        ExpressionAttributeValues: {
          ':canceled': 'canceled',
          ':queued': 'queued',
          ':true': true,
          ':tenant': tenant,
          ':now': now,
          ':error': { code: 'canceled', message: 'Canceled by the caller before it started.' } satisfies JobError,
        },
      });
      if (canceled) return { kind: 'canceled', job: (await this.released(canceled))! };
      const requested = await this.update(id, {
        UpdateExpression: 'SET cancelRequested = :true, updatedAt = :now',
        ConditionExpression: 'tenant = :tenant AND #state = :running',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':true': true, ':tenant': tenant, ':running': 'running', ':now': now },
      });
      if (requested) return { kind: 'cancel_requested', job: requested };
      const job = await this.getForTenant(id, tenant);
      if (!job) return { kind: 'not_found' };
      if (job.state === 'canceled') return { kind: 'canceled', job };
      if (job.state === 'succeeded' || job.state === 'failed') return { kind: 'finished', job };
      // The state changed between the writes (claimed or handed back): try again.
    }
    throw new Error(`Job ${id} kept changing state while being canceled; retry the cancel.`);
  }

  /** A conditional update returning the new item, or undefined when the condition failed. */
  private async update(id: string, input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>): Promise<JobRecord | undefined> {
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          ...input,
          ConditionExpression: `attribute_exists(id) AND (${input.ConditionExpression})`,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes as JobRecord;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}

const UNSENT_PREFIX = 'unsent#';
/** The byQueue lane of pending-message notes (jobs use 'queued', which queue positions count). */
const UNSENT_LANE = 'unsent';

function unsentItemId(jobId: string): string {
  return `${UNSENT_PREFIX}${jobId}`;
}

function admissionItemId(tenant: string): string {
  return `admission#${tenant}`;
}

function idempotencyItemId(tenant: string, key: string): string {
  return `idem#${tenant}#${createHash('sha256').update(key).digest('hex')}`;
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, tenant: string): Record<string, unknown> {
  const refuse = (what: string): never => {
    throw new InvalidCursorError(`cursor ${JSON.stringify(cursor.slice(0, 40))} is not one this API issued${what}; pass the nextCursor of the previous page, or omit it for the first page.`);
  };
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    refuse('');
  }
  // Base64 decoding skips characters outside its alphabet: only the exact text we issue is ours.
  if (typeof key !== 'object' || key === null || encodeCursor(key as Record<string, unknown>) !== cursor) refuse('');
  const { createdAt, id, tenant: owner, ...rest } = key as Record<string, unknown>;
  // Each value is a key attribute DynamoDB would start from: empty strings are refused there (a 500), and a
  // creation time that is not one this store wrote would start the page anywhere.
  const wellFormed =
    Object.keys(rest).length === 0 &&
    typeof id === 'string' &&
    id.length > 0 &&
    typeof createdAt === 'string' &&
    !Number.isNaN(Date.parse(createdAt)) &&
    new Date(createdAt).toISOString() === createdAt;
  if (!wellFormed) refuse('');
  if (owner !== tenant) refuse(' for this key');
  return key as Record<string, unknown>;
}
