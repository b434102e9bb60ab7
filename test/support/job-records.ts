/** A valid queued job record for tests that seed the jobs table directly. */
import { resolveEditOptions } from '../../shared/edit-request.ts';
import type { JobRecord } from '../../shared/job.ts';

export function queuedJobRecord(id: string, overrides: Partial<JobRecord> = {}): JobRecord {
  const tenant = overrides.tenant ?? 'tenant_a';
  const request = { sourcePrompt: 'a bear', targetPrompt: 'a tiger' };
  const now = new Date().toISOString();
  return {
    id,
    tenant,
    state: 'queued',
    request,
    options: resolveEditOptions(request),
    input: { uploadId: 'up1', key: `uploads/${tenant}/up1`, bytes: 1000, contentType: 'video/mp4' },
    mask: null,
    webhookUrl: null,
    progress: null,
    timings: {},
    outputs: null,
    error: null,
    attempt: 0,
    cancelRequested: false,
    idempotencyKey: null,
    workerId: null,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    expiresAt: Math.floor(Date.now() / 1000) + 86_400,
    queueLane: 'queued',
    ...overrides,
  };
}
