/** `Authorization: Bearer <key>` → the key's tenant, or a 401 problem. */
import type { MiddlewareHandler } from 'hono';
import type { ApiKeyResolver } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { ProblemError } from '../problems.ts';

const CHALLENGE = 'Bearer realm="ocd"';

export interface ApiKeyAuthOptions {
  resolver: ApiKeyResolver;
}

/**
 * Authenticate by API key and set `tenant`.
 *
 * @throws Error when built without a resolver.
 */
export function apiKeyAuth(options: ApiKeyAuthOptions): MiddlewareHandler<AppEnv> {
  if (typeof options?.resolver?.tenantFor !== 'function') {
    throw new Error('apiKeyAuth needs `resolver`: an ApiKeyResolver (staticKeyResolver or secretKeyResolver from functions/api-keys.ts).');
  }
  return async function apiKeyAuthMiddleware(c, next) {
    const header = c.req.header('authorization');
    // no header
    if (!header) {
      throw new ProblemError('unauthorized', 'Send your API key as `Authorization: Bearer <key>`.', { headers: { 'WWW-Authenticate': CHALLENGE } });
    }
    const match = /^Bearer\s+(\S{1,512})$/i.exec(header.trim());
    // not a bearer header
    if (!match) {
      throw new ProblemError('unauthorized', 'The Authorization header must be `Bearer <key>`.', {
        headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_request"` },
      });
    }
    const tenant = await options.resolver.tenantFor(match[1]);
    // unknown or revoked key
    if (!tenant) {
      throw new ProblemError('unauthorized', 'The API key is not valid; check it or ask for a new one.', {
        headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` },
      });
    }
    c.set('tenant', tenant);
    await next();
  };
}
