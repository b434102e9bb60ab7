import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../shared/job.ts';
import { InvalidCursorError, JobStore } from '../../shared/job-store.ts';
import { useEmulators } from '../support/emulators.ts';
import { queuedJobRecord } from '../support/job-records.ts';

const emulators = useEmulators();

let clockMs = Date.parse('2026-11-26T10:00:00.000Z');
const clock = () => new Date(clockMs);
let counter = 0;

function store(options: { createLeaseMs?: number } = {}): JobStore {
  return new JobStore({ client: emulators.current.dynamo, table: emulators.current.resources.table, clock, ...options });
}

function newJob(tenant: string, overrides: Partial<JobRecord> = {}): JobRecord {
  counter += 1;
  clockMs += 1000;
  const createdAt = new Date(clockMs).toISOString();
  return queuedJobRecord(`job${String(counter).padStart(4, '0')}`, {
    tenant,
    createdAt,
    updatedAt: createdAt,
    expiresAt: Math.floor(clockMs / 1000) + 86400,
    ...overrides,
  });
}

describe('JobStore against dynalite', () => {
  it('creates a job once and refuses a second write with the same id', async () => {
    const jobs = store();
    const job = newJob('t-create');
    await jobs.create(job);
    expect(await jobs.get(job.id)).toEqual(job);
    await expect(jobs.create(job)).rejects.toThrow(/conditional/i);
  });

  it('hides another tenant\'s job', async () => {
    const jobs = store();
    const job = newJob('t-owner');
    await jobs.create(job);
    expect(await jobs.getForTenant(job.id, 't-owner')).toBeDefined();
    expect(await jobs.getForTenant(job.id, 't-other')).toBeUndefined();
  });

  it('lets exactly one of two runners claim a queued job', async () => {
    const jobs = store();
    const job = newJob('t-claim');
    await jobs.create(job);
    const [first, second] = await Promise.all([jobs.claim(job.id, 0, 'w1'), jobs.claim(job.id, 0, 'w2')]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    const claimed = (first ?? second)!;
    expect(claimed).toMatchObject({ state: 'running', attempt: 1 });
    expect(claimed.queueLane).toBeUndefined();
  });

  it('accepts progress only from the owning attempt while running, then finishes once', async () => {
    const jobs = store();
    const job = newJob('t-progress');
    await jobs.create(job);
    expect(await jobs.updateProgress(job.id, 0, { stage: 'edit', step: 1, steps: 20, fraction: 0.5 })).toBeUndefined();
    await jobs.claim(job.id, 0, 'w1');
    expect(await jobs.updateProgress(job.id, 0, { stage: 'edit', step: 1, steps: 20, fraction: 0.5 })).toBeUndefined();
    expect(await jobs.updateProgress(job.id, 1, { stage: 'edit', step: 1, steps: 20, fraction: 0.5 }, { decode: 0.2 })).toEqual({ cancelRequested: false });
    expect((await jobs.get(job.id))!.progress).toEqual({ stage: 'edit', step: 1, steps: 20, fraction: 0.5 });
    expect(await jobs.markSucceeded(job.id, 1, { video: 'jobs/x/output.mp4' }, { decode: 0.2, edit: 3 })).toBe(true);
    expect(await jobs.markFailed(job.id, 1, { code: 'internal', message: 'late' })).toBe(false);
    expect(await jobs.claim(job.id, 1, 'w2')).toBeUndefined();
    expect(await jobs.get(job.id)).toMatchObject({ state: 'succeeded', outputs: { video: 'jobs/x/output.mp4' }, error: null });
  });

  it('hands a running job back to the queue for the next attempt', async () => {
    const jobs = store();
    const job = newJob('t-handback');
    await jobs.create(job);
    await jobs.claim(job.id, 0, 'w1');
    expect(await jobs.handBack(job.id, 1)).toBe(true);
    expect(await jobs.get(job.id)).toMatchObject({ state: 'queued', progress: null, attempt: 1, queueLane: 'queued' });
    expect(await jobs.claim(job.id, 0, 'w2')).toBeUndefined();
    expect(await jobs.claim(job.id, 1, 'w2')).toMatchObject({ state: 'running', attempt: 2 });
  });

  it('cancels in each state: queued at once, running by request, finished refused, canceled idempotent', async () => {
    const jobs = store();
    const queued = newJob('t-cancel');
    await jobs.create(queued);
    expect(await jobs.requestCancel(queued.id, 't-other')).toEqual({ kind: 'not_found' });
    const first = await jobs.requestCancel(queued.id, 't-cancel');
    expect(first).toMatchObject({ kind: 'canceled', job: { state: 'canceled', error: { code: 'canceled' } } });
    expect(await jobs.requestCancel(queued.id, 't-cancel')).toMatchObject({ kind: 'canceled' });
    expect(await jobs.claim(queued.id, 0, 'w1')).toBeUndefined();

    const running = newJob('t-cancel');
    await jobs.create(running);
    await jobs.claim(running.id, 0, 'w1');
    expect(await jobs.requestCancel(running.id, 't-cancel')).toMatchObject({ kind: 'cancel_requested', job: { state: 'running', cancelRequested: true } });
    expect(await jobs.isCancelRequested(running.id)).toBe(true);
    expect(await jobs.updateProgress(running.id, 1, { stage: 'edit', step: 2, steps: 20, fraction: 0.6 })).toEqual({ cancelRequested: true });
    expect(await jobs.markCanceled(running.id, 1)).toBe(true);

    const done = newJob('t-cancel');
    await jobs.create(done);
    await jobs.claim(done.id, 0, 'w1');
    await jobs.markFailed(done.id, 1, { code: 'input_unreadable', message: 'not a video' });
    expect(await jobs.requestCancel(done.id, 't-cancel')).toMatchObject({ kind: 'finished', job: { state: 'failed' } });
  });

  it('lists a tenant\'s jobs newest first across pages, and counts active jobs', async () => {
    const jobs = store();
    const created: JobRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const job = newJob('t-list');
      await jobs.create(job);
      created.push(job);
    }
    await jobs.create(newJob('t-list-other'));
    await jobs.failQueued(created[0].id, { code: 'enqueue_failed', message: 'queue down' });

    const page1 = await jobs.listByTenant('t-list', { limit: 2 });
    expect(page1.jobs.map((j) => j.id)).toEqual([created[4].id, created[3].id]);
    const page2 = await jobs.listByTenant('t-list', { limit: 2, cursor: page1.nextCursor! });
    const page3 = await jobs.listByTenant('t-list', { limit: 2, cursor: page2.nextCursor! });
    expect([...page2.jobs, ...page3.jobs].map((j) => j.id)).toEqual([created[2].id, created[1].id, created[0].id]);
    expect(await jobs.countActive('t-list')).toBe(4);
    await expect(jobs.listByTenant('t-list-other', { limit: 2, cursor: page1.nextCursor! })).rejects.toThrow(InvalidCursorError);
    await expect(jobs.listByTenant('t-list', { limit: 2, cursor: 'not-a-cursor' })).rejects.toThrow(InvalidCursorError);
  });

  it('gives queue positions from the queued jobs created earlier', async () => {
    const jobs = store();
    const before = await jobs.queuePosition({ createdAt: new Date(clockMs + 500).toISOString() });
    const a = newJob('t-queue');
    const b = newJob('t-queue');
    await jobs.create(a);
    await jobs.create(b);
    expect(await jobs.queuePosition(a)).toBe(before);
    expect(await jobs.queuePosition(b)).toBe(before + 1);
    await jobs.claim(a.id, 0, 'w1');
    expect(await jobs.queuePosition(b)).toBe(before);
  });

  it('reserves an idempotency key once and reports the job and request hash that hold it', async () => {
    const jobs = store();
    expect(await jobs.reserveIdempotencyKey('t-idem', 'key-1', 'hash-a', 'job-a', 2e9)).toEqual({ reserved: true });
    expect(await jobs.reserveIdempotencyKey('t-idem', 'key-1', 'hash-b', 'job-b', 2e9)).toEqual({ reserved: false, jobId: 'job-a', requestHash: 'hash-a' });
    expect(await jobs.reserveIdempotencyKey('t-idem-2', 'key-1', 'hash-b', 'job-b', 2e9)).toEqual({ reserved: true });
    await jobs.releaseIdempotencyKey('t-idem', 'key-1');
    expect(await jobs.reserveIdempotencyKey('t-idem', 'key-1', 'hash-c', 'job-c', 2e9)).toEqual({ reserved: true });
  });

  it('admits exactly `cap` of 40 concurrent admissions, and each release returns one slot, once', async () => {
    const jobs = store();
    const ids = Array.from({ length: 40 }, (_, i) => `job-admit-${i}`);
    const results = await Promise.all(ids.map((id) => jobs.admit('t-admit', id, 4)));
    const admitted = ids.filter((_, i) => results[i].admitted);
    expect(admitted).toHaveLength(4);
    expect(Object.keys((await jobs.admissionHolders('t-admit'))!).sort()).toEqual([...admitted].sort());
    expect(results.find((r) => !r.admitted)).toEqual({ admitted: false, active: 4 });
    // Those four jobs exist and are active, so nothing is stale: still full.
    for (const id of admitted) await jobs.create(newJob('t-admit', { id }));
    expect(await jobs.admit('t-admit', 'job-admit-late', 4)).toEqual({ admitted: false, active: 4 });
    await jobs.releaseAdmission('t-admit', admitted[0]);
    await jobs.releaseAdmission('t-admit', admitted[0]); // a second release frees nothing more
    const again = await Promise.all(['x1', 'x2', 'x3'].map((id) => jobs.admit('t-admit', id, 4)));
    expect(again.filter((r) => r.admitted)).toHaveLength(1);
  });

  it('gives the slot back on every way a job ends', async () => {
    const jobs = store();
    const tenant = 't-ends';
    const admitted = async () => {
      const job = newJob(tenant);
      expect(await jobs.admit(tenant, job.id, 100)).toEqual({ admitted: true });
      await jobs.create(job);
      return job;
    };
    const held = async () => Object.keys((await jobs.admissionHolders(tenant)) ?? {});
    const succeeded = await admitted();
    await jobs.claim(succeeded.id, 0, 'w1');
    const failed = await admitted();
    await jobs.claim(failed.id, 0, 'w1');
    const canceledRunning = await admitted();
    await jobs.claim(canceledRunning.id, 0, 'w1');
    const canceledQueued = await admitted();
    const failedQueued = await admitted();
    const handedBack = await admitted();
    await jobs.claim(handedBack.id, 0, 'w1');
    expect(await held()).toHaveLength(6);

    expect(await jobs.markSucceeded(succeeded.id, 1, {}, {})).toBe(true);
    expect(await jobs.markFailed(failed.id, 1, { code: 'timeout', message: 'deadline' })).toBe(true);
    await jobs.requestCancel(canceledRunning.id, tenant);
    expect(await jobs.markCanceled(canceledRunning.id, 1)).toBe(true);
    expect((await jobs.requestCancel(canceledQueued.id, tenant)).kind).toBe('canceled');
    expect(await jobs.failQueued(failedQueued.id, { code: 'internal', message: 'dead letter' })).toBe(true);
    expect(await jobs.handBack(handedBack.id, 1)).toBe(true); // back in the queue: still active
    expect(await held()).toEqual([handedBack.id]);
    // Writes that lose their condition release nothing.
    expect(await jobs.markFailed(succeeded.id, 1, { code: 'internal', message: 'late' })).toBe(false);
    expect(await held()).toEqual([handedBack.id]);
  });

  it('clears slots held without an active job when the cap is reached: a lost release, a create that died', async () => {
    let now = Date.parse('2026-11-26T12:00:00.000Z');
    const jobs = new JobStore({ client: emulators.current.dynamo, table: emulators.current.resources.table, clock: () => new Date(now), createLeaseMs: 15_000 });
    const tenant = 't-repair';
    const finished = newJob(tenant);
    await jobs.create(finished);
    await jobs.admit(tenant, finished.id, 2);
    await jobs.claim(finished.id, 0, 'w1');
    await jobs.markSucceeded(finished.id, 1, {}, {});
    await jobs.admit(tenant, finished.id, 2); // as if the release had been lost in a crash
    expect(await jobs.admit(tenant, 'job-never-written', 2)).toEqual({ admitted: true }); // its create "dies"
    expect(await jobs.admit(tenant, 'job-next', 2)).toEqual({ admitted: true }); // the finished job's slot is cleared
    expect(await jobs.admit(tenant, 'job-after', 2)).toMatchObject({ admitted: false }); // job-never-written is within its lease
    now += 16_000;
    await jobs.create(newJob(tenant, { id: 'job-next' }));
    expect(await jobs.admit(tenant, 'job-after', 2)).toEqual({ admitted: true });
    expect(Object.keys((await jobs.admissionHolders(tenant))!).sort()).toEqual(['job-after', 'job-next']);
  });

  it('takes over an idempotency key whose create died before writing its job (a reservation written the old way)', async () => {
    let now = Date.parse('2026-11-26T12:00:00.000Z');
    const jobs = new JobStore({ client: emulators.current.dynamo, table: emulators.current.resources.table, clock: () => new Date(now), createLeaseMs: 15_000 });
    // The old create path wrote exactly this item, then died before the job.
    expect(await jobs.reserveIdempotencyKey('t-stale', 'key-1', 'hash-a', 'job-dead', 2e9)).toEqual({ reserved: true });
    expect(await jobs.reserveIdempotencyKey('t-stale', 'key-1', 'hash-a', 'job-retry', 2e9)).toEqual({ reserved: false, jobId: 'job-dead', requestHash: 'hash-a' });
    now += 16_000;
    const racing = await Promise.all(['job-r1', 'job-r2', 'job-r3'].map((id) => jobs.reserveIdempotencyKey('t-stale', 'key-1', 'hash-a', id, 2e9)));
    expect(racing.filter((r) => r.reserved)).toHaveLength(1);
    const winner = (await jobs.findIdempotencyKey('t-stale', 'key-1'))!.jobId;
    expect(['job-r1', 'job-r2', 'job-r3']).toContain(winner);
    // A key whose job exists is never taken over, however old.
    await jobs.create(newJob('t-stale', { id: winner }));
    now += 60_000;
    expect(await jobs.reserveIdempotencyKey('t-stale', 'key-1', 'hash-a', 'job-late', 2e9)).toEqual({ reserved: false, jobId: winner, requestHash: 'hash-a' });
  });

  it('refuses to mark succeeded a job whose cancel was acknowledged first', async () => {
    const jobs = store();
    const job = newJob('t-cancel-wins');
    await jobs.create(job);
    await jobs.claim(job.id, 0, 'w1');
    expect((await jobs.requestCancel(job.id, 't-cancel-wins')).kind).toBe('cancel_requested');
    expect(await jobs.markSucceeded(job.id, 1, { video: 'v' }, {})).toBe(false);
    expect(await jobs.markCanceled(job.id, 1)).toBe(true);
    expect(await jobs.requestCancel(job.id, 't-cancel-wins')).toMatchObject({ kind: 'canceled' });
  });
});
