/** The public view of a job record: presigned output links, queue position, links; internal fields dropped. */
import type { EditJob } from '../shared/api.ts';
import type { JobRecord } from '../shared/job.ts';
import { publicMessage } from '../shared/public-message.ts';
import type { AppConfig, ApiJobStore, ObjectStorage } from './deps.ts';

export interface ViewContext {
  storage: ObjectStorage;
  jobs: ApiJobStore;
  config: AppConfig;
  now: Date;
  /** Look up the queue position (one query); lists skip it. */
  withQueuePosition: boolean;
}

function link(config: AppConfig, path: string): string {
  return config.publicBaseUrl ? new URL(path, config.publicBaseUrl).toString() : path;
}

export async function toEditJob(job: JobRecord, context: ViewContext): Promise<EditJob> {
  const { storage, config, now } = context;
  const expiresAt = new Date(now.getTime() + config.downloadExpirySeconds * 1000).toISOString();
  let outputs: EditJob['outputs'] = null;
  if (job.state === 'succeeded' && job.outputs) {
    outputs = {};
    for (const name of ['video', 'preview', 'report'] as const) {
      const key = job.outputs[name];
      if (key) outputs[name] = { url: await storage.presignDownload(key, config.downloadExpirySeconds), expiresAt };
    }
  }
  const queuePosition = job.state === 'queued' && context.withQueuePosition ? await context.jobs.queuePosition(job) : null;
  const inputView = (input: JobRecord['input']) => ({ uploadId: input.uploadId, bytes: input.bytes, contentType: input.contentType });
  return {
    id: job.id,
    object: 'edit',
    state: job.state,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    queuePosition,
    progress: job.progress,
    timings: job.timings,
    cancelRequested: job.cancelRequested,
    attempt: job.attempt,
    request: job.request as Record<string, unknown>,
    options: job.options as unknown as Record<string, unknown>,
    input: inputView(job.input),
    mask: job.mask ? inputView(job.mask) : null,
    control: job.control ? inputView(job.control) : null,
    webhookUrl: job.webhookUrl,
    outputs,
    run: job.state === 'succeeded' ? (job.run ?? null) : null,
    // The runner clears its messages already; records written before it did, or by another writer, go through again.
    error: job.error && { code: job.error.code, message: publicMessage(job.error.message) },
    links: { self: link(config, `/v1/edits/${job.id}`), cancel: link(config, `/v1/edits/${job.id}/cancel`) },
  };
}
