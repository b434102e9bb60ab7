/** Request id and access log: every response carries `X-Request-Id`, every request logs one JSON line. */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../deps.ts';
import type { AppEnv } from '../env.ts';

const INCOMING_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export interface RequestContextOptions {
  log: Logger;
  /** @default () => Date.now() */
  nowMs?: () => number;
}

/**
 * Accepts a caller's `X-Request-Id` when it looks safe (so traces join up), else Lambda's request id, else a new one.
 *
 * @throws Error when built without `log`.
 */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<AppEnv> {
  if (typeof options?.log !== 'function') throw new Error('requestContext needs `log`: a Logger function (see functions/deps.ts).');
  const nowMs = options.nowMs ?? (() => Date.now());
  return async function requestContextMiddleware(c, next) {
    const started = nowMs();
    const incoming = c.req.header('x-request-id');
    // On Lambda, reuse its request id so our log lines join the platform's.
    const lambdaRequestId = (c.env as { lambdaContext?: { awsRequestId?: string } } | undefined)?.lambdaContext?.awsRequestId;
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : (lambdaRequestId ?? randomUUID());
    c.set('requestId', requestId);
    await next();
    c.header('X-Request-Id', requestId);
    options.log('info', 'request', {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: nowMs() - started,
      tenant: c.get('tenant'),
    });
  };
}
