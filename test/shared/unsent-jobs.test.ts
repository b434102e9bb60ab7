/**
 * The repair of creates that died between writing a job and sending its queue message (shared/unsent-jobs.ts),
 * against dynalite with a controlled clock: which notes a sweep sees, and what it does with each kind of job.
 */
import { describe, expect, it } from 'vitest';
import { JobStore } from '../../shared/job-store.ts';
import { decodeQueueMessage } from '../../shared/queue-message.ts';
import { sweepUnsent } from '../../shared/unsent-jobs.ts';
import { useEmulators } from '../support/emulators.ts';
import { queuedJobRecord } from '../support/job-records.ts';

const emulators = useEmulators();
let clockMs = Date.parse('2026-11-27T10:00:00.000Z');
const LEASE_MS = 15_000;

function store(): JobStore {
  return new JobStore({ client: emulators.current.dynamo, table: emulators.current.resources.table, clock: () => new Date(clockMs), createLeaseMs: LEASE_MS });
}

/** A create that got as far as `stage` and died there: the note, the slot, and (after 'job') the job. */
async function deadCreate(jobs: JobStore, tenant: string, id: string, stage: 'note' | 'job'): Promise<void> {
  expect(await jobs.admit(tenant, id, 10)).toEqual({ admitted: true });
  await jobs.noteUnsent(tenant, id, Math.floor(clockMs / 1000) + 86_400);
  const at = new Date(clockMs).toISOString();
  if (stage === 'job') await jobs.create(queuedJobRecord(id, { tenant, createdAt: at, updatedAt: at }));
}

describe('sweepUnsent', () => {
  it('leaves notes younger than the create lease alone, then sends, clears or fails each by what its job is', async () => {
    const jobs = store();
    const sent: string[] = [];
    let queueDown = false;
    const send = async (body: string) => {
      if (queueDown) throw new Error('queue unavailable');
      sent.push(decodeQueueMessage(body).jobId);
    };
    await deadCreate(jobs, 'u1', 'unsent-queued', 'job');
    await deadCreate(jobs, 'u1', 'unsent-nojob', 'note');
    await deadCreate(jobs, 'u1', 'unsent-canceled', 'job');
    await jobs.requestCancel('unsent-canceled', 'u1');

    clockMs += LEASE_MS - 1000; // a live create may still send them
    expect(await sweepUnsent({ store: jobs, send })).toEqual([]);

    clockMs += 2000;
    const settled = await sweepUnsent({ store: jobs, send });
    expect(Object.fromEntries(settled.map((s) => [s.jobId, s.outcome]))).toEqual({ 'unsent-queued': 'sent', 'unsent-nojob': 'cleared', 'unsent-canceled': 'cleared' });
    expect(sent).toEqual(['unsent-queued']);
    expect((await jobs.get('unsent-queued'))?.state).toBe('queued'); // a runner takes it from here
    expect(Object.keys((await jobs.admissionHolders('u1')) ?? {})).toEqual(['unsent-queued']); // the dead ones gave their slots back
    for (const id of ['unsent-queued', 'unsent-nojob', 'unsent-canceled']) expect(await jobs.findUnsent(id)).toBeUndefined();
    expect(await sweepUnsent({ store: jobs, send })).toEqual([]); // settled once

    // When the message still cannot be sent, the job fails with its stable code and its slot comes back.
    await deadCreate(jobs, 'u2', 'unsent-queue-down', 'job');
    clockMs += LEASE_MS + 1000;
    queueDown = true;
    expect(await sweepUnsent({ store: jobs, send })).toEqual([{ jobId: 'unsent-queue-down', outcome: 'failed' }]);
    expect(await jobs.get('unsent-queue-down')).toMatchObject({ state: 'failed', error: { code: 'enqueue_failed' } });
    expect(await jobs.admissionHolders('u2')).toEqual({});
  });
});
