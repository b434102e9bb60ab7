/**
 * Stable error codes: the job error codes a runner records on a failed job, and the API problem types
 * (RFC 9457 `application/problem+json`). Codes never change meaning; add new ones instead.
 */
import { z } from 'zod';

/** The caller's video or mask cannot be used: retrying never helps (the video layer raises these). */
export const INPUT_ERROR_CODES = [
  'input_empty',
  'input_unreadable',
  'input_truncated',
  'input_too_short',
  'input_too_long',
  'input_too_large',
  'mask_unreadable',
  'mask_mismatch',
  // a control video (depth, pose, line-art map for a ControlNet) supplied by the caller
  'control_unreadable',
  'control_frame_count',
  'control_size',
] as const;
export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

/** Why a job failed or ended. Stored on the job as `error.code`. */
export const JOB_ERROR_CODES = [
  ...INPUT_ERROR_CODES,
  'invalid_request',
  'model_unavailable',
  // the ControlVideo editor: no ControlNet configured, or the configured folder is not a usable ControlNetModel
  'controlnet_missing',
  'controlnet_invalid',
  'enqueue_failed',
  'canceled',
  'timeout',
  'internal',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export const JobErrorSchema = z
  .object({
    code: z.enum(JOB_ERROR_CODES).describe('Stable machine-readable code.'),
    message: z.string().max(2000).describe('What went wrong and what to do, for people.'),
  })
  .meta({ id: 'JobError' });
export type JobError = z.infer<typeof JobErrorSchema>;

/** API problem types: code -> HTTP status and a short title that never changes. */
export const PROBLEM_TYPES = {
  validation_failed: { status: 400, title: 'The request is invalid' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  invalid_cursor: { status: 400, title: 'The pagination cursor is invalid' },
  prompt_not_visible: { status: 400, title: 'A prompt has no visible characters' },
  replace_word_count: { status: 400, title: 'A word swap needs prompts with the same number of words' },
  blend_word_not_in_prompt: { status: 400, title: 'A blend word is not a word of its prompt' },
  reweight_word_not_in_prompt: { status: 400, title: 'A reweighted word is not a word of the target prompt' },
  option_not_implemented: { status: 400, title: 'An option is not implemented' },
  controlnet_missing: { status: 422, title: 'No ControlNet is configured for the ControlVideo editor' },
  unauthorized: { status: 401, title: 'A valid API key is required' },
  not_found: { status: 404, title: 'No such resource' },
  idempotency_key_reused: { status: 409, title: 'The idempotency key was used with a different request' },
  job_finished: { status: 409, title: 'The job has already finished' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  upload_invalid: { status: 422, title: 'An upload cannot be used' },
  upload_not_video: { status: 422, title: 'An upload is not a video container' },
  too_many_active_jobs: { status: 429, title: 'Too many active jobs' },
  internal: { status: 500, title: 'Internal error' },
  service_unavailable: { status: 503, title: 'A dependency is unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;
export type ProblemCode = keyof typeof PROBLEM_TYPES;
export const PROBLEM_CODES = Object.keys(PROBLEM_TYPES) as ProblemCode[];

/** Relative URI of a problem type, resolved against the API's base URL (`GET /problems/{code}` documents it). */
export function problemTypeUri(code: ProblemCode): string {
  return `/problems/${code}`;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const FieldErrorSchema = z
  .object({
    path: z.string().describe('Dotted path of the offending field, e.g. `sampler.steps` (empty for the whole body).'),
    message: z.string(),
    code: z
      .enum(PROBLEM_CODES as [ProblemCode, ...ProblemCode[]])
      .optional()
      .describe('The problem code of this field when it has its own (e.g. `blend_word_not_in_prompt`); absent for plain validation.'),
  })
  .meta({ id: 'FieldError' });
export type FieldError = z.infer<typeof FieldErrorSchema>;

/** The RFC 9457 body every API error carries. */
export const ProblemSchema = z
  .object({
    type: z.string().describe('Stable problem type URI, `/problems/{code}`.'),
    title: z.string(),
    status: z.int(),
    detail: z.string().describe('What went wrong with this request, quoting the value received and how to fix it.'),
    code: z.enum(PROBLEM_CODES as [ProblemCode, ...ProblemCode[]]),
    instance: z.string().optional().describe('The request path this problem occurred on.'),
    requestId: z.string().optional().describe('Echoes the `X-Request-Id` response header; quote it in support requests.'),
    errors: z.array(FieldErrorSchema).optional().describe('Every offending field, for validation problems.'),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof ProblemSchema>;

/**
 * Build a problem body from a stable code.
 *
 * @example problem('not_found', 'No edit job "01J..." exists for this API key.')
 */
export function problem(code: ProblemCode, detail: string, extra: { requestId?: string; errors?: FieldError[] } = {}): Problem {
  const type = PROBLEM_TYPES[code];
  return { type: problemTypeUri(code), title: type.title, status: type.status, detail, code, ...extra };
}

/** A problem+json `Response` (framework-free: works in any fetch-style handler). */
export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
  });
}

/**
 * A zod issue's `params` entry that carries a rule's own problem code.
 * @example ctx.addIssue({ code: 'custom', path, message, params: problemParams('replace_word_count') })
 */
export function problemParams(code: ProblemCode): { problem: ProblemCode } {
  return { problem: code };
}

/** Turn zod issues into field errors with dotted paths (and the rule's problem code where it has one). */
export function fieldErrorsFromZod(error: z.ZodError, prefix: (string | number)[] = []): FieldError[] {
  return error.issues.map((issue) => {
    const code = issue.code === 'custom' ? (issue.params as { problem?: ProblemCode } | undefined)?.problem : undefined;
    return { path: [...prefix, ...issue.path].map(String).join('.'), message: describeIssue(issue), ...(code ? { code } : {}) };
  });
}

/**
 * The problem code of a failed validation: a rule's own code when every field error shares it, else the
 * general `validation_failed` (whose field errors still carry their own codes).
 */
export function validationCode(errors: readonly FieldError[]): ProblemCode {
  const codes = new Set(errors.map((error) => error.code));
  const [only] = codes;
  return codes.size === 1 && only !== undefined ? only : 'validation_failed';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove them (see /docs for the allowed fields)`;
  return issue.message;
}
