/** /v1/edits: create, read, list and cancel edit jobs. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { CreateEditBodySchema, CreateEditFormSchema, EditJobSchema, EditListSchema } from '../../shared/api.ts';
import { InvalidCursorError } from '../../shared/job-store.ts';
import type { ResolvedDeps } from '../deps.ts';
import { createEdit } from '../create-edit.ts';
import type { AppEnv } from '../env.ts';
import { ProblemError, problemResponses, validationHook } from '../problems.ts';
import { toEditJob } from '../views.ts';

const JobIdParams = z.object({ id: z.string().min(1).max(128).describe('Job id from POST /v1/edits.') });
const jobResponse = (description: string) => ({ description, content: { 'application/json': { schema: EditJobSchema } } });

const getEdit = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['edits'],
  operationId: 'getEdit',
  summary: 'Get an edit job',
  description: 'State, progress, queue position, timings, and when succeeded presigned output URLs with their expiry.',
  security: [{ bearerAuth: [] }],
  request: { params: JobIdParams },
  responses: { 200: jobResponse('The job.'), ...problemResponses('unauthorized', 'not_found', 'internal') },
});

const listEdits = createRoute({
  method: 'get',
  path: '/',
  tags: ['edits'],
  operationId: 'listEdits',
  summary: "List the caller's edit jobs, newest first",
  description: 'One page of jobs with their state and links, newest first; follow `nextCursor` for the next page.',
  security: [{ bearerAuth: [] }],
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20).describe('Page size (1-100, default 20).'),
      cursor: z.string().max(2048).optional().describe('`nextCursor` of the previous page.'),
    }),
  },
  responses: {
    200: { description: 'One page of jobs.', content: { 'application/json': { schema: EditListSchema } } },
    ...problemResponses('validation_failed', 'invalid_cursor', 'unauthorized', 'internal'),
  },
});

const cancelEdit = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  tags: ['edits'],
  operationId: 'cancelEdit',
  summary: 'Cancel an edit job',
  description:
    'Idempotent. A queued job is canceled at once. A running job answers `cancelRequested: true`: the cancel is acknowledged and the job will end `canceled` (outputs removed), even if it was already uploading. A canceled job stays canceled. A job that had already succeeded (or failed) before the cancel arrived answers 409 `job_finished`, naming its state; its outputs stay.',
  security: [{ bearerAuth: [] }],
  request: { params: JobIdParams },
  responses: { 200: jobResponse('The job after the cancel.'), ...problemResponses('unauthorized', 'not_found', 'job_finished', 'internal') },
});

const createEditDoc = {
  method: 'post' as const,
  path: '/v1/edits',
  tags: ['edits'],
  operationId: 'createEdit',
  summary: 'Create an edit job',
  description: [
    'Send JSON that references uploads (`input.uploadId`, optional `mask.uploadId` and `control.uploadId`) or, for small clips, `multipart/form-data`',
    'with the video itself (fields `request` = the same JSON without `input`/`mask`, `video`, optional `mask` and `control`).',
    'Every knob of the editing method can be set; the preset only supplies defaults.',
    "Two editors: FateZero (presets `ocd`, `optimized`, `fatezero`) and ControlVideo (`editor: 'controlvideo'`, presets `controlvideo-ocd`, `controlvideo-optimized`, `controlvideo`),",
    "which generates the target from noise guided by a ControlNet on per-frame control maps: canny edges of the input (`control: {type: 'canny', low, high}`, the default)",
    "or a control video you upload (`control: {type: 'video', uploadId}`; inline: the `control` file). ControlVideo needs a ControlNet configured on the service, else 422 `controlnet_missing`.",
    'With an `Idempotency-Key` header a retry returns the same job (header `Idempotent-Replayed: true`) and enqueues nothing;',
    'the same key with a different body is a 409.',
  ].join(' '),
  security: [{ bearerAuth: [] }],
  request: {
    headers: z.object({
      'idempotency-key': z.string().min(1).max(255).optional().describe('Makes retries safe: the same key returns the same job.'),
    }),
    body: {
      required: true,
      content: {
        'application/json': { schema: CreateEditBodySchema },
        'multipart/form-data': { schema: CreateEditFormSchema },
      },
    },
  },
  responses: {
    202: {
      description: 'The job is queued (or, on an idempotent replay, the job the key created).',
      headers: { Location: { description: 'URL of the job.', schema: { type: 'string' as const } } },
      content: { 'application/json': { schema: EditJobSchema } },
    },
    ...problemResponses(
      'validation_failed',
      'prompt_not_visible',
      'replace_word_count',
      'blend_word_not_in_prompt',
      'reweight_word_not_in_prompt',
      'option_not_implemented',
      'controlnet_missing',
      'malformed_json',
      'unauthorized',
      'idempotency_key_reused',
      'payload_too_large',
      'unsupported_media_type',
      'upload_invalid',
      'upload_not_video',
      'too_many_active_jobs',
      'internal',
      'service_unavailable',
    ),
  },
};

export function editRoutes(deps: ResolvedDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const view = (withQueuePosition: boolean) => ({ storage: deps.storage, jobs: deps.jobs, config: deps.config, now: deps.clock(), withQueuePosition });

  // The create route parses its own body (JSON or multipart) so that it controls every error; its OpenAPI
  // entry is registered separately in app.ts from `createEditDoc`.
  app.post('/', async (c) => {
    const { job, replayed } = await createEdit(c, deps);
    const body = await toEditJob(job, view(true));
    c.header('Location', body.links.self);
    if (replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(body, 202);
  });

  app.openapi(listEdits, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    try {
      const page = await deps.jobs.listByTenant(c.get('tenant'), { limit, cursor });
      const context = view(false);
      return c.json({ data: await Promise.all(page.jobs.map((job) => toEditJob(job, context))), nextCursor: page.nextCursor }, 200);
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new ProblemError('invalid_cursor', error.message);
      throw error;
    }
  });

  app.openapi(getEdit, async (c) => {
    const { id } = c.req.valid('param');
    const job = await deps.jobs.getForTenant(id, c.get('tenant'));
    if (!job) throw new ProblemError('not_found', `No edit job ${JSON.stringify(id)} exists for this API key.`);
    return c.json(await toEditJob(job, view(true)), 200);
  });

  app.openapi(cancelEdit, async (c) => {
    const { id } = c.req.valid('param');
    const outcome = await deps.jobs.requestCancel(id, c.get('tenant'));
    if (outcome.kind === 'not_found') throw new ProblemError('not_found', `No edit job ${JSON.stringify(id)} exists for this API key.`);
    if (outcome.kind === 'finished') {
      const kept = outcome.job.state === 'succeeded' ? ' its outputs stay available' : ' nothing was canceled';
      throw new ProblemError('job_finished', `Edit job ${id} had already ${outcome.job.state} before the cancel arrived;${kept}.`);
    }
    return c.json(await toEditJob(outcome.job, view(true)), 200);
  });

  return app;
}

export { createEditDoc };
