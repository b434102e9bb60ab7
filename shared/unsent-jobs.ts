/**
 * Recovery of a create that died between writing its job and sending the job's queue message (a crash, a lost
 * connection): the job would stay `queued` forever and hold one of its tenant's active-job slots until its TTL.
 * Every create notes the message as unsent before writing the job and drops the note once the message is sent
 * (job-store.ts `noteUnsent` / `markSent`); a note older than the create lease is what this module repairs.
 *
 * A second message for the same job is harmless: a runner claims a job only with a conditional write on its
 * state and attempt, and deletes a message whose job is not queued any more.
 */
import type { JobStore, UnsentJob } from './job-store.ts';
import { encodeQueueMessage } from './queue-message.ts';

/** What a sweep did with one note. */
export type UnsentOutcome = 'sent' | 'failed' | 'cleared';

export interface UnsentRepairDeps {
  store: Pick<JobStore, 'get' | 'releaseAdmission' | 'markSent' | 'failQueued' | 'staleUnsent'>;
  /** Send one queue message body (the API's and the runner's queue clients both fit). */
  send: (body: string) => Promise<void>;
}

/**
 * Settle one note: send the message of a job still queued (and drop the note); fail the job with
 * `enqueue_failed`, releasing its slot, when the message cannot be sent; only drop the note (and the slot a job
 * that was never written holds) otherwise.
 */
export async function settleUnsent(deps: { store: Omit<UnsentRepairDeps['store'], 'staleUnsent'>; send: UnsentRepairDeps['send'] }, note: UnsentJob): Promise<UnsentOutcome> {
  const { store } = deps;
  const job = await store.get(note.jobId);
  if (!job) {
    // The create died before the job was written: nothing to send; its slot must come back.
    await store.releaseAdmission(note.tenant, note.jobId);
    await store.markSent(note.jobId);
    return 'cleared';
  }
  if (job.state !== 'queued') {
    await store.markSent(note.jobId); // a message did get through (or the job was canceled meanwhile)
    return 'cleared';
  }
  try {
    await deps.send(encodeQueueMessage(job.id));
  } catch {
    await store.failQueued(job.id, { code: 'enqueue_failed', message: 'The job could not be queued; create it again.' });
    await store.markSent(note.jobId);
    return 'failed';
  }
  await store.markSent(note.jobId);
  return 'sent';
}

/** Settle every note older than the create lease (up to `limit`); returns what happened to each job. */
export async function sweepUnsent(deps: UnsentRepairDeps, limit = 25): Promise<{ jobId: string; outcome: UnsentOutcome }[]> {
  const done: { jobId: string; outcome: UnsentOutcome }[] = [];
  for (const note of await deps.store.staleUnsent(limit)) done.push({ jobId: note.jobId, outcome: await settleUnsent(deps, note) });
  return done;
}
