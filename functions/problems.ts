/**
 * Errors as RFC 9457 problem+json: the app's error and not-found handlers, the validation hook, and the
 * OpenAPI descriptions of error responses.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import {
  fieldErrorsFromZod,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPES,
  ProblemSchema,
  problem,
  problemResponse,
  type FieldError,
  type Problem,
  type ProblemCode,
  validationCode,
} from '../shared/errors.ts';
import type { Logger } from './deps.ts';
import type { AppEnv } from './env.ts';

/**
 * An HTTP failure whose response is the problem+json body with our stable code. Throw it anywhere in a
 * handler or middleware; the app's error handler adds the request id and path.
 *
 * @example throw new ProblemError('not_found', `No edit job "${id}" exists for this API key.`);
 */
export class ProblemError extends HTTPException {
  readonly problem: Problem;
  readonly headers: Record<string, string>;

  constructor(code: ProblemCode, detail: string, options: { errors?: FieldError[]; headers?: Record<string, string> } = {}) {
    const body = problem(code, detail, options.errors ? { errors: options.errors } : {});
    super(body.status as ContentfulStatusCode, { message: detail });
    this.name = 'ProblemError';
    this.problem = body;
    this.headers = options.headers ?? {};
  }

  override getResponse(): Response {
    return problemResponse(this.problem, this.headers);
  }
}

/** Add what identifies this occurrence: the request path and id. */
function withRequestId(c: Context<AppEnv>, body: ReturnType<typeof problem>) {
  const requestId = c.get('requestId');
  return { ...body, instance: c.req.path, ...(requestId ? { requestId } : {}) };
}

/** Map a framework exception (thrown by hono's validators and middleware) to one of our codes. */
function codeForHttpException(error: HTTPException): ProblemCode {
  if (error.status === 415) return 'unsupported_media_type';
  if (error.status === 413) return 'payload_too_large';
  if (error.status === 401) return 'unauthorized';
  if (error.status === 404) return 'not_found';
  if (error.status === 400 && /json/i.test(error.message)) return 'malformed_json';
  if (error.status >= 400 && error.status < 500) return 'validation_failed';
  return 'internal';
}

/** The app's `onError`: every failure leaves as problem+json with the request id. */
export function problemErrorHandler(log: Logger) {
  return (error: Error, c: Context<AppEnv>): Response => {
    if (error instanceof ProblemError) {
      return problemResponse(withRequestId(c, error.problem), error.headers);
    }
    if (error instanceof HTTPException) {
      const code = codeForHttpException(error);
      const detail =
        code === 'unsupported_media_type'
          ? `Content-Type ${JSON.stringify(c.req.header('content-type') ?? '(none)')} is not accepted here; send application/json${c.req.path === '/v1/edits' ? ' or multipart/form-data' : ''}.`
          : code === 'malformed_json'
            ? 'The body is not valid JSON; check quoting and trailing commas.'
            : error.message || PROBLEM_TYPES[code].title;
      return problemResponse(withRequestId(c, problem(code, detail)));
    }
    log('error', 'unhandled error', { requestId: c.get('requestId'), error: error.stack ?? String(error) });
    return problemResponse(withRequestId(c, problem('internal', 'Something went wrong on our side; retry, and quote the requestId if it persists.')));
  };
}

/** The app's `notFound`. */
export function problemNotFound(c: Context<AppEnv>): Response {
  return problemResponse(withRequestId(c, problem('not_found', `No route ${c.req.method} ${c.req.path}; see /docs for the API reference.`)));
}

/**
 * A failed validation listing every offending field; its code is the fields' own rule code when they share
 * one (e.g. `replace_word_count`), else `validation_failed`.
 */
export function invalidRequest(errors: FieldError[], where = 'request'): ProblemError {
  return new ProblemError(validationCode(errors), `The ${where} is invalid: ${errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}.`, { errors });
}

/** zod-openapi hook: a failed request validation becomes a problem listing every field. */
export function validationHook(result: { success: true } | { success: false; error: z.ZodError; target?: string }): void {
  if (result.success) return;
  throw invalidRequest(fieldErrorsFromZod(result.error), result.target === 'query' ? 'query' : result.target === 'param' ? 'path' : 'body');
}

/** OpenAPI `responses` entries for the given problem codes (codes sharing a status are merged). */
export function problemResponses(...codes: ProblemCode[]) {
  const byStatus: Record<number, { description: string; content: Record<string, { schema: typeof ProblemSchema }> }> = {};
  for (const code of codes) {
    const { status, title } = PROBLEM_TYPES[code];
    const entry = (byStatus[status] ??= { description: '', content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } });
    entry.description = entry.description ? `${entry.description}; \`${code}\`: ${title}` : `\`${code}\`: ${title}`;
  }
  return byStatus;
}
