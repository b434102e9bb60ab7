/** Body size limits: small for JSON, larger for a multipart create carrying the video itself. */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../env.ts';
import { ProblemError } from '../problems.ts';

export interface BodyLimitsOptions {
  maxJsonBytes: number;
  /** Limit for multipart bodies (files plus form overhead). */
  maxMultipartBytes: number;
}

/**
 * @throws Error when a limit is not a positive number.
 */
export function bodyLimits(options: BodyLimitsOptions): MiddlewareHandler<AppEnv> {
  for (const [name, value] of Object.entries(options)) {
    if (!(Number.isFinite(value) && value > 0)) throw new Error(`bodyLimits: ${name} must be a positive number of bytes, got ${String(value)}.`);
  }
  const tooLarge = (limit: number, what: string) => () => {
    throw new ProblemError('payload_too_large', `The ${what} body exceeds ${limit} bytes; upload large videos through POST /v1/uploads instead.`);
  };
  const json = bodyLimit({ maxSize: options.maxJsonBytes, onError: tooLarge(options.maxJsonBytes, 'JSON') });
  const multipart = bodyLimit({ maxSize: options.maxMultipartBytes, onError: tooLarge(options.maxMultipartBytes, 'multipart') });
  return async function bodyLimitsMiddleware(c, next) {
    const type = c.req.header('content-type') ?? '';
    return /^multipart\/form-data/i.test(type) ? multipart(c, next) : json(c, next);
  };
}
