/**
 * The public API's bodies: what callers send and receive. The routes, the OpenAPI document, the CLI and the
 * tests all use these schemas.
 */
import { z } from 'zod';
import { editKnobIssues, EditKnobsSchema, resolveEditDefaults, type EditRequest } from './edit-request.ts';
import { JobErrorSchema } from './errors.ts';
import { JOB_STATES, JobProgressSchema, JobRunSchema, JobTimingsSchema } from './job.ts';

/** Video containers accepted as inputs and masks. */
export const UPLOAD_CONTENT_TYPES = ['video/mp4', 'video/quicktime', 'video/webm', 'video/x-matroska'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** Upload and job ids: ULIDs (26 Crockford base32 characters). */
export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const id = (what: string) => z.string().regex(ID_PATTERN, `must be a ${what} id as returned by the API (26 characters)`);

export const CreateUploadBodySchema = z
  .strictObject({
    contentType: z.enum(UPLOAD_CONTENT_TYPES).describe('MIME type of the video; the POST must send the same Content-Type field.'),
    contentLength: z.int().min(1).describe('Size of the file in bytes; the presigned POST accepts at most this many.'),
    filename: z.string().min(1).max(255).optional().describe('Original file name, for your own reference.'),
  })
  .meta({ id: 'CreateUpload' });
export type CreateUploadBody = z.infer<typeof CreateUploadBodySchema>;

export const UploadTicketSchema = z
  .object({
    uploadId: id('upload'),
    url: z.string().describe('POST a multipart form here: every entry of `fields`, then the file as `file` (last).'),
    fields: z.record(z.string(), z.string()),
    maxBytes: z.int().describe('Largest accepted file in bytes.'),
    expiresAt: z.string().describe('The POST must start before this time (ISO 8601).'),
  })
  .meta({ id: 'UploadTicket' });
export type UploadTicket = z.infer<typeof UploadTicketSchema>;

export const UploadRefSchema = z.strictObject({ uploadId: id('upload') }).meta({ id: 'UploadRef' });

/** What a control video must be, for the descriptions. */
const CONTROL_VIDEO_HELP =
  'A control video has one map per frame of the input video (all its frames, before frame selection) at its aspect ratio: depth, pose, line art, whatever map the configured ControlNet expects. No estimator ships, so make the maps yourself.';

/** `control` as the JSON create body takes it: the control video variant names its upload. */
const ApiControlSchema = z
  .discriminatedUnion('type', [
    EditKnobsSchema.shape.control.unwrap().options[0],
    z.strictObject({
      type: z.literal('video').describe('A control video you uploaded.'),
      uploadId: id('upload').describe('The control video, uploaded through POST /v1/uploads.'),
    }),
  ])
  .describe(`ControlVideo's per-frame control (editor 'controlvideo' only): canny edges of the input (the default) or a control video you upload. ${CONTROL_VIDEO_HELP}`);

/** Fields of the create body besides the edit knobs. */
const CreateEditInputsSchema = {
  input: UploadRefSchema.describe('The video to edit, uploaded through POST /v1/uploads.'),
  mask: UploadRefSchema.optional().describe('Optional mask video (white = edit), same frame count and size as the input.'),
  webhookUrl: z
    .string()
    .max(2048)
    .optional()
    .describe('Called (https POST, Standard Webhooks signature) when the job finishes; must resolve to a public address.'),
};

/** The knobs of a JSON create body: its `control` without the upload, which the job keeps beside the input. */
export function knobsOfCreateBody(body: CreateEditBody): EditRequest {
  const { input: _input, mask: _mask, webhookUrl: _webhookUrl, control, ...knobs } = body;
  return control === undefined ? knobs : { ...knobs, control: control.type === 'video' ? { type: 'video' } : control };
}

/** POST /v1/edits as JSON: the inputs plus every knob of the edit request. */
export const CreateEditBodySchema = EditKnobsSchema.extend({ ...CreateEditInputsSchema, control: ApiControlSchema.optional() })
  .superRefine((body, ctx) => {
    const context = { hasMaskVideo: body.mask !== undefined, hasControlVideo: body.control?.type === 'video' };
    for (const issue of editKnobIssues(knobsOfCreateBody(body), context)) ctx.addIssue(issue);
  })
  .meta({ id: 'CreateEdit' });
export type CreateEditBody = z.infer<typeof CreateEditBodySchema>;

const fileField = z.custom<File>((value) => value instanceof File, 'must be a file');

/** The multipart form of POST /v1/edits: the same JSON (without `input`/`mask`) plus the files. */
export const CreateEditFormSchema = z
  .object({
    request: z.string().describe("JSON of the edit request: the CreateEdit body without `input` and `mask`, and with `control: {type: 'video'}` (no uploadId) when the `control` file is sent."),
    video: fileField.meta({ type: 'string', format: 'binary', description: 'The video file.' }),
    mask: fileField.optional().meta({ type: 'string', format: 'binary', description: 'Optional mask video.' }),
    control: fileField.optional().meta({ type: 'string', format: 'binary', description: `Optional control video for the ControlVideo editor. ${CONTROL_VIDEO_HELP}` }),
  })
  .meta({ id: 'CreateEditForm' });

/** The JSON inside the multipart `request` field. */
export const InlineEditRequestSchema = EditKnobsSchema.extend({ webhookUrl: CreateEditInputsSchema.webhookUrl });

/** What came with the request besides the knobs. */
export interface InlineFiles {
  hasMaskVideo: boolean;
  hasControlVideo: boolean;
}

/** Validate the multipart `request` JSON with the same cross-field checks. */
export function inlineEditIssues(request: z.infer<typeof InlineEditRequestSchema>, files: InlineFiles) {
  const { webhookUrl: _webhookUrl, ...knobs } = request;
  return [...editKnobIssues(knobs, files), ...unusedControlVideoIssues(knobs, files)];
}

/**
 * A control video sent as a file that the resolved request would not use (a FateZero edit, or canny control) is
 * refused rather than silently dropped. The JSON body cannot say this: its control video lives inside `control`.
 */
function unusedControlVideoIssues(knobs: EditRequest, files: InlineFiles): ReturnType<typeof editKnobIssues> {
  if (!files.hasControlVideo || !EditKnobsSchema.safeParse(knobs).success) return [];
  const options = resolveEditDefaults(knobs, files);
  if (options.control?.type === 'video') return [];
  const why = options.editor === 'fatezero' ? "the FateZero editor takes no control video; leave the file out or set editor 'controlvideo'" : "control is {type: 'canny'}; leave the file out or set control {type: 'video'}";
  return [{ code: 'custom', path: ['control'], message: `a control video was sent but ${why}` }];
}

const OutputLinkSchema = z.object({
  url: z.string().describe('Presigned GET URL.'),
  expiresAt: z.string().describe('The URL stops working at this time (ISO 8601); GET the job again for a fresh one.'),
});

export const EditJobSchema = z
  .object({
    id: id('job'),
    object: z.literal('edit'),
    state: z.enum(JOB_STATES),
    createdAt: z.string(),
    updatedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    queuePosition: z.int().nullable().describe('While queued: about how many jobs are ahead of this one.'),
    progress: JobProgressSchema.nullable(),
    timings: JobTimingsSchema.describe('Seconds per stage so far.'),
    cancelRequested: z.boolean(),
    attempt: z.int().describe('How many times a runner has started this job.'),
    request: z.record(z.string(), z.unknown()).describe('The knobs as sent (see CreateEdit).'),
    options: z.record(z.string(), z.unknown()).describe('Every knob resolved with the preset defaults: what the runner uses.'),
    input: z.object({ uploadId: z.string(), bytes: z.int(), contentType: z.string() }),
    mask: z.object({ uploadId: z.string(), bytes: z.int(), contentType: z.string() }).nullable(),
    control: z
      .object({ uploadId: z.string(), bytes: z.int(), contentType: z.string() })
      .nullable()
      .describe("The ControlVideo editor's control video; null with canny control and for FateZero edits."),
    webhookUrl: z.string().nullable(),
    outputs: z
      .object({ video: OutputLinkSchema.optional(), preview: OutputLinkSchema.optional(), report: OutputLinkSchema.optional() })
      .nullable()
      .describe('When succeeded: the edited video, the side-by-side preview and the run report.'),
    run: JobRunSchema.nullable().describe('When succeeded: what actually ran (the preset, why it fell back if it did, the mask area).'),
    error: JobErrorSchema.nullable(),
    links: z.object({ self: z.string(), cancel: z.string() }),
  })
  .meta({ id: 'EditJob' });
export type EditJob = z.infer<typeof EditJobSchema>;

export const EditListSchema = z
  .object({
    data: z.array(EditJobSchema),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({ id: 'EditList' });
export type EditList = z.infer<typeof EditListSchema>;
