/**
 * The edit API as a pure factory: `createApp(deps)` wires middleware and routers over injected storage,
 * queue, job store, key resolver, clock and ids. The Lambda and local-server entries only supply real deps.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { serveApiDocument } from './api-document.ts';
import { resolveDeps, type AppDeps } from './deps.ts';
import type { AppEnv } from './env.ts';
import { apiKeyAuth } from './middleware/api-key-auth.ts';
import { bodyLimits } from './middleware/body-limits.ts';
import { requestContext } from './middleware/request-context.ts';
import { problemErrorHandler, problemNotFound, validationHook } from './problems.ts';
import { editRoutes } from './routes/edits.ts';
import { docsRoutes, metaRoutes } from './routes/meta.ts';
import { uploadRoutes } from './routes/uploads.ts';

/** Room for multipart framing and the `request` field on top of the inline file bytes. */
const MULTIPART_OVERHEAD_BYTES = 256 * 1024;

/**
 * Build the API.
 *
 * @throws Error naming any missing dependency.
 * @example const app = createApp(await realDeps(loadApiConfig())); export const handler = handle(app);
 */
export function createApp(deps: AppDeps) {
  const resolved = resolveDeps(deps);
  const { config } = resolved;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use('*', requestContext({ log: resolved.log }));
  app.use('*', secureHeaders());
  if (config.corsOrigins.length > 0) {
    app.use(
      '*',
      cors({
        origin: config.corsOrigins,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
        exposeHeaders: ['X-Request-Id', 'Location', 'Retry-After', 'Idempotent-Replayed'],
        maxAge: 600,
      }),
    );
  }
  app.use('/v1/*', apiKeyAuth({ resolver: resolved.apiKeys }));
  app.use('/v1/*', bodyLimits({ maxJsonBytes: config.maxJsonBytes, maxMultipartBytes: config.maxInlineBytes + MULTIPART_OVERHEAD_BYTES }));

  app.route('/', metaRoutes());
  app.route('/v1/uploads', uploadRoutes(resolved));
  app.route('/v1/edits', editRoutes(resolved));

  serveApiDocument(app, config);
  app.route('/', docsRoutes());

  app.notFound(problemNotFound);
  app.onError(problemErrorHandler(resolved.log));
  return app;
}
