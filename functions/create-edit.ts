/**
 * Creating an edit job, in stages: read the body (JSON or multipart), check idempotency, vet the webhook and
 * the uploads, take a slot under the tenant's active-job cap, then write (inline files, job record) and enqueue.
 * Nothing is written before every check has passed (a refused slot gives the key back), and a job whose message
 * cannot be sent ends `failed`. A create that dies between writing the job and sending its message leaves a note
 * (job-store.ts `noteUnsent`) that a replay of its Idempotency-Key, or the runners' sweep, settles
 * (shared/unsent-jobs.ts).
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { CreateEditBodySchema, InlineEditRequestSchema, inlineEditIssues, knobsOfCreateBody, UPLOAD_CONTENT_TYPES, type UploadContentType } from '../shared/api.ts';
import { resolveEditDefaults, resolveEditOptions, type EditRequest } from '../shared/edit-request.ts';
import { fieldErrorsFromZod, type FieldError } from '../shared/errors.ts';
import type { JobInput, JobRecord } from '../shared/job.ts';
import { encodeQueueMessage } from '../shared/queue-message.ts';
import { uploadKey } from '../shared/s3-keys.ts';
import { CONTAINER_SNIFF_BYTES, describeLeadingBytes, sniffVideoContainer } from '../shared/video-container.ts';
import { settleUnsent } from '../shared/unsent-jobs.ts';
import { checkWebhookUrl } from '../shared/webhook-url.ts';
import type { ResolvedDeps } from './deps.ts';
import type { AppEnv } from './env.ts';
import { invalidRequest, ProblemError } from './problems.ts';
import { failpoint } from './test-failpoints.ts';

/** Seconds a caller should wait before retrying when at the active-job cap. */
export const ACTIVE_CAP_RETRY_SECONDS = 30;
const ENQUEUE_RETRY_SECONDS = 5;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** An input as the create request names it: an earlier upload, or a file inside the request. */
type InputSource = { kind: 'upload'; uploadId: string } | { kind: 'inline'; file: File };

interface ParsedCreate {
  knobs: EditRequest;
  input: InputSource;
  mask: InputSource | undefined;
  /** The ControlVideo editor's control video. */
  control: InputSource | undefined;
  webhookUrl: string | undefined;
  /** Identifies the request for idempotency: same key + different hash is a conflict. */
  requestHash: string;
}

export interface CreateResult {
  job: JobRecord;
  replayed: boolean;
}

function invalid(errors: FieldError[]): never {
  throw invalidRequest(errors);
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Stable JSON (sorted keys) so that key order does not change the request hash. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError('malformed_json', 'The body is not valid JSON; check quoting and trailing commas.');
  }
}

async function readJsonBody(c: Context<AppEnv>): Promise<ParsedCreate> {
  const parsed = CreateEditBodySchema.safeParse(parseJsonText(await c.req.text()));
  if (!parsed.success) invalid(fieldErrorsFromZod(parsed.error));
  const { input, mask, control, webhookUrl } = parsed.data;
  return {
    knobs: knobsOfCreateBody(parsed.data),
    input: { kind: 'upload', uploadId: input.uploadId },
    mask: mask && { kind: 'upload', uploadId: mask.uploadId },
    control: control?.type === 'video' ? { kind: 'upload', uploadId: control.uploadId } : undefined,
    webhookUrl,
    requestHash: sha256(canonicalJson(parsed.data)),
  };
}

async function readMultipartBody(c: Context<AppEnv>, maxInlineBytes: number): Promise<ParsedCreate> {
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch {
    throw new ProblemError('validation_failed', 'The multipart body cannot be parsed; send fields `request` (JSON), `video` (file) and optionally `mask` and `control` (files).');
  }
  const requestField = form.get('request');
  const video = form.get('video');
  const mask = form.get('mask');
  const control = form.get('control');
  const errors: FieldError[] = [];
  if (typeof requestField !== 'string') errors.push({ path: 'request', message: 'required: the edit request as a JSON text field' });
  if (!(video instanceof File)) errors.push({ path: 'video', message: 'required: the video as a file field' });
  if (mask !== null && !(mask instanceof File)) errors.push({ path: 'mask', message: 'must be a file field' });
  if (control !== null && !(control instanceof File)) errors.push({ path: 'control', message: 'must be a file field' });
  if (errors.length > 0) invalid(errors);

  const files = { video: video as File, ...(mask instanceof File ? { mask } : {}), ...(control instanceof File ? { control } : {}) };
  for (const [name, file] of Object.entries(files)) {
    const type = file.type.split(';')[0].trim().toLowerCase();
    if (!(UPLOAD_CONTENT_TYPES as readonly string[]).includes(type)) {
      errors.push({ path: name, message: `content type ${JSON.stringify(file.type || '(none)')} is not one of ${UPLOAD_CONTENT_TYPES.join(', ')}` });
    }
    if (file.size === 0) errors.push({ path: name, message: 'is empty' });
  }
  if (errors.length > 0) invalid(errors);
  for (const [name, file] of Object.entries(files)) {
    requireVideoContainer(new Uint8Array(await file.slice(0, CONTAINER_SNIFF_BYTES).arrayBuffer()), `The ${name} file`, name);
  }
  const inlineBytes = Object.values(files).reduce((sum, file) => sum + file.size, 0);
  if (inlineBytes > maxInlineBytes) {
    throw new ProblemError('payload_too_large', `The files total ${inlineBytes} bytes, over the ${maxInlineBytes}-byte limit for inline videos; upload through POST /v1/uploads instead.`);
  }

  const parsed = InlineEditRequestSchema.safeParse(parseJsonText(requestField as string));
  if (!parsed.success) invalid(fieldErrorsFromZod(parsed.error, ['request']));
  const issues = inlineEditIssues(parsed.data, { hasMaskVideo: files.mask !== undefined, hasControlVideo: files.control !== undefined });
  if (issues.length > 0) invalid(issues.map((issue) => ({ path: ['request', ...issue.path].join('.'), message: issue.message, ...(issue.params && { code: issue.params.problem }) })));
  const { webhookUrl, ...knobs } = parsed.data;

  const digests: Record<string, string> = {};
  for (const [name, file] of Object.entries(files)) digests[name] = sha256(new Uint8Array(await file.arrayBuffer()));
  return {
    knobs,
    input: { kind: 'inline', file: files.video },
    mask: files.mask && { kind: 'inline', file: files.mask },
    control: files.control && { kind: 'inline', file: files.control },
    webhookUrl,
    requestHash: sha256(canonicalJson({ request: parsed.data, files: digests })),
  };
}

async function readCreateBody(c: Context<AppEnv>, deps: ResolvedDeps): Promise<ParsedCreate> {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') return readJsonBody(c);
  if (type === 'multipart/form-data') return readMultipartBody(c, deps.config.maxInlineBytes);
  throw new ProblemError('unsupported_media_type', `Content-Type ${JSON.stringify(type || '(none)')} is not accepted; send application/json (uploads by id) or multipart/form-data (small videos inline).`);
}

function readIdempotencyKey(c: Context<AppEnv>): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    invalid([{ path: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters, e.g. a UUID' }]);
  }
  return key;
}

/**
 * A replay of an earlier create with the same key, or a conflict. Undefined when the key's job does not exist
 * (yet): its create is still running, or died before writing the job.
 */
async function replay(deps: ResolvedDeps, tenant: string, held: { jobId: string; requestHash: string }, requestHash: string): Promise<CreateResult | undefined> {
  if (held.requestHash !== requestHash) {
    throw new ProblemError('idempotency_key_reused', 'This Idempotency-Key was already used with a different request; use a new key for a new edit.');
  }
  const job = await deps.jobs.getForTenant(held.jobId, tenant);
  if (!job) return undefined;
  // The first create may have died after writing the job and before sending its message: send it now (a second
  // message, should the first create still be about to send it, is harmless).
  const unsent = job.state === 'queued' ? await deps.jobs.findUnsent(job.id) : undefined;
  if (unsent) {
    const outcome = await settleUnsent({ store: deps.jobs, send: (body) => deps.queue.send(body) }, unsent);
    deps.log('warn', 'replay sent the message of a job its create left unsent', { jobId: job.id, outcome });
    return { job: (await deps.jobs.getForTenant(job.id, tenant)) ?? job, replayed: true };
  }
  return { job, replayed: true };
}

function stillBeingCreated(): never {
  throw new ProblemError('idempotency_key_reused', 'A request with this Idempotency-Key is still being processed; retry in a moment.', {
    headers: { 'Retry-After': '1' },
  });
}

/** HEAD an earlier upload and check it belongs to the tenant and has an allowed size and type. */
async function checkUpload(deps: ResolvedDeps, tenant: string, uploadId: string, path: string): Promise<JobInput> {
  const key = uploadKey(tenant, uploadId);
  const head = await deps.storage.head(key);
  if (!head) {
    throw new ProblemError('upload_invalid', `Upload ${uploadId} does not exist for this API key (or has not finished); upload with POST /v1/uploads, then POST the file, then create the edit.`, {
      errors: [{ path, message: 'no such upload' }],
    });
  }
  const type = head.contentType.split(';')[0].trim().toLowerCase();
  const problems: string[] = [];
  if (head.bytes === 0) problems.push('is empty');
  if (head.bytes > deps.config.maxUploadBytes) problems.push(`is ${head.bytes} bytes, over the ${deps.config.maxUploadBytes}-byte limit`);
  if (!(UPLOAD_CONTENT_TYPES as readonly string[]).includes(type)) problems.push(`has content type ${JSON.stringify(head.contentType)}, not one of ${UPLOAD_CONTENT_TYPES.join(', ')}`);
  if (problems.length > 0) {
    throw new ProblemError('upload_invalid', `Upload ${uploadId} ${problems.join(' and ')}.`, { errors: problems.map((message) => ({ path, message })) });
  }
  // A ranged read of the first bytes: cheap, and it catches a file that is plainly not a video before any job exists.
  requireVideoContainer((await deps.storage.readStart(key, CONTAINER_SNIFF_BYTES)) ?? new Uint8Array(), `Upload ${uploadId}`, path);
  return { uploadId, key, bytes: head.bytes, contentType: type };
}

/** Refuse bytes that do not start like a container we decode (MP4/MOV or WebM/MKV). */
function requireVideoContainer(start: Uint8Array, what: string, path: string): void {
  if (sniffVideoContainer(start)) return;
  const message = `does not start like an MP4/MOV or WebM/MKV file (first bytes: ${describeLeadingBytes(start)})`;
  throw new ProblemError('upload_not_video', `${what} ${message}; upload the video file itself.`, { errors: [{ path, message, code: 'upload_not_video' }] });
}

/**
 * The ControlVideo editor runs only where a ControlNet folder is configured: without one its job could only fail,
 * so it is refused before anything is written.
 */
function requireControlNet(request: ParsedCreate, deps: ResolvedDeps): void {
  if (deps.config.controlnetConfigured) return;
  if (resolveEditDefaults(request.knobs).editor !== 'controlvideo') return;
  throw new ProblemError(
    'controlnet_missing',
    "The 'controlvideo' editor needs a ControlNet model, and this service has none configured (the operator sets OCD_CONTROLNET_DIR locally, or the stack's ControlNet S3 URI); use a FateZero preset meanwhile.",
    { errors: [{ path: request.knobs.editor ? 'editor' : 'preset', message: 'no ControlNet is configured on this service', code: 'controlnet_missing' }] },
  );
}

async function storeInline(deps: ResolvedDeps, tenant: string, file: File): Promise<JobInput> {
  const uploadId = deps.newId();
  const key = uploadKey(tenant, uploadId);
  const contentType = file.type.split(';')[0].trim().toLowerCase() as UploadContentType;
  await deps.storage.put(key, new Uint8Array(await file.arrayBuffer()), contentType);
  return { uploadId, key, bytes: file.size, contentType };
}

/**
 * Handle POST /v1/edits.
 *
 * @throws ProblemError for every rejected request (validation, idempotency conflict, uploads, cap, queue).
 */
export async function createEdit(c: Context<AppEnv>, deps: ResolvedDeps): Promise<CreateResult> {
  const tenant = c.get('tenant');
  // 1. Read and validate the body and headers.
  const idempotencyKey = readIdempotencyKey(c);
  const request = await readCreateBody(c, deps);

  // 2. A retry with the same key returns the first job (if the first create died before writing it, the key
  //    is taken over below once its lease has run out).
  if (idempotencyKey) {
    const held = await deps.jobs.findIdempotencyKey(tenant, idempotencyKey);
    const replayed = held && (await replay(deps, tenant, held, request.requestHash));
    if (replayed) return replayed;
  }

  // 3. Vet what the runner will touch: the ControlNet, webhook host, uploads.
  requireControlNet(request, deps);
  if (request.webhookUrl !== undefined) {
    const problem = await checkWebhookUrl(request.webhookUrl, { resolveHost: deps.resolveHost, allowPrivate: deps.config.allowPrivateWebhooks });
    if (problem) invalid([{ path: 'webhookUrl', message: problem }]);
  }
  const checkedInput = request.input.kind === 'upload' ? await checkUpload(deps, tenant, request.input.uploadId, 'input.uploadId') : undefined;
  const checkedMask = request.mask?.kind === 'upload' ? await checkUpload(deps, tenant, request.mask.uploadId, 'mask.uploadId') : undefined;
  const checkedControl = request.control?.kind === 'upload' ? await checkUpload(deps, tenant, request.control.uploadId, 'control.uploadId') : undefined;
  const options = resolveEditOptions(request.knobs, { hasMaskVideo: request.mask !== undefined, hasControlVideo: request.control !== undefined });

  // 4. Write: idempotency key, then a slot under the tenant's cap on queued + running jobs (one atomic
  //    conditional write, so concurrent creates cannot pass it together), then inline files and the job.
  const now = deps.clock();
  const jobId = deps.newId();
  const expiresAt = Math.floor(now.getTime() / 1000) + deps.config.jobTtlDays * 86400;
  if (idempotencyKey) {
    const reservation = await deps.jobs.reserveIdempotencyKey(tenant, idempotencyKey, request.requestHash, jobId, expiresAt);
    if (!reservation.reserved) return (await replay(deps, tenant, reservation, request.requestHash)) ?? stillBeingCreated();
    failpoint('after-idempotency-reservation');
  }
  const releaseKey = async () => {
    if (idempotencyKey) await deps.jobs.releaseIdempotencyKey(tenant, idempotencyKey).catch(() => undefined);
  };
  const admission = await deps.jobs.admit(tenant, jobId, deps.config.maxActiveJobsPerTenant).catch(async (error: unknown) => {
    await releaseKey();
    throw error;
  });
  if (!admission.admitted) {
    await releaseKey();
    throw new ProblemError('too_many_active_jobs', `This API key already has ${admission.active} queued or running jobs (limit ${deps.config.maxActiveJobsPerTenant}); wait for one to finish or cancel one.`, {
      headers: { 'Retry-After': String(ACTIVE_CAP_RETRY_SECONDS) },
    });
  }
  let jobWritten = false;
  try {
    const input = checkedInput ?? (await storeInline(deps, tenant, (request.input as { file: File }).file));
    const mask = request.mask === undefined ? null : (checkedMask ?? (await storeInline(deps, tenant, (request.mask as { file: File }).file)));
    const control = request.control === undefined ? null : (checkedControl ?? (await storeInline(deps, tenant, (request.control as { file: File }).file)));
    const createdAt = now.toISOString();
    const job: JobRecord = {
      id: jobId,
      tenant,
      state: 'queued',
      request: request.knobs,
      options,
      input,
      mask,
      control,
      webhookUrl: request.webhookUrl ?? null,
      progress: null,
      timings: {},
      outputs: null,
      error: null,
      attempt: 0,
      cancelRequested: false,
      idempotencyKey: idempotencyKey ?? null,
      workerId: null,
      createdAt,
      updatedAt: createdAt,
      startedAt: null,
      finishedAt: null,
      expiresAt,
      queueLane: 'queued',
    };
    // The message is owed from here on: should this create die before sending it, the note says so.
    await deps.jobs.noteUnsent(tenant, jobId, expiresAt);
    await deps.jobs.create(job);
    jobWritten = true;
    failpoint('after-job-write');

    // 5. Enqueue; a job whose message cannot be sent must not stay queued forever.
    try {
      await deps.queue.send(encodeQueueMessage(jobId));
      await deps.jobs.markSent(jobId);
    } catch (error) {
      deps.log('error', 'enqueue failed', { requestId: c.get('requestId'), jobId, error: String(error) });
      await deps.jobs.failQueued(jobId, { code: 'enqueue_failed', message: 'The job could not be queued; create it again.' });
      await deps.jobs.markSent(jobId).catch(() => undefined); // nothing is owed for a failed job
      throw new ProblemError('service_unavailable', `The job queue is unavailable, so job ${jobId} was marked failed; retry the request (the same Idempotency-Key is free again).`, {
        headers: { 'Retry-After': String(ENQUEUE_RETRY_SECONDS) },
      });
    }
    return { job, replayed: false };
  } catch (error) {
    // A job that was written and then failed has released its slot itself (failQueued).
    if (!jobWritten) {
      await deps.jobs.releaseAdmission(tenant, jobId).catch(() => undefined);
      await deps.jobs.markSent(jobId).catch(() => undefined);
    }
    await releaseKey();
    throw error;
  }
}
