/** Unauthenticated routes: health, the problem-type catalogue that problem `type` URIs point to, and the docs page. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { PROBLEM_CODES, PROBLEM_TYPES, problemTypeUri, type ProblemCode } from '../../shared/errors.ts';
import type { AppEnv } from '../env.ts';
import { problemResponses, validationHook } from '../problems.ts';

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['meta'],
  operationId: 'getHealth',
  summary: 'Liveness',
  description: 'Answers while the API can serve requests; needs no key.',
  security: [],
  responses: {
    200: { description: 'The API is up.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } },
    // The route itself never refuses; what can is the platform in front of it (throttling, a firewall).
    '4XX': { description: 'Refused before reaching the API, e.g. throttled by the gateway in front of it.' },
  },
});

const ProblemTypeSchema = z.object({ type: z.string(), code: z.string(), status: z.int(), title: z.string() }).meta({ id: 'ProblemType' });

const problemType = createRoute({
  method: 'get',
  path: '/problems/{code}',
  tags: ['meta'],
  operationId: 'getProblemType',
  summary: 'Describe a problem type',
  description: 'What a problem `type` URI of an error answer means: its stable code, HTTP status and title. Needs no key.',
  security: [],
  request: { params: z.object({ code: z.string().describe('A problem code, e.g. `upload_invalid`.') }) },
  responses: {
    200: { description: 'The problem type.', content: { 'application/json': { schema: ProblemTypeSchema } } },
    ...problemResponses('not_found'),
  },
});

export function metaRoutes() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(problemType, (c) => {
    const { code } = c.req.valid('param');
    if (!(PROBLEM_CODES as string[]).includes(code)) return c.notFound() as never;
    const known = code as ProblemCode;
    return c.json({ type: problemTypeUri(known), code: known, ...PROBLEM_TYPES[known] }, 200);
  });
  return app;
}

/** The swagger-ui-dist release package.json pins; deployed bundles without the package load this one from its CDN. */
export const SWAGGER_UI_VERSION = '5.35.0';
const DOCS_ASSETS = '/docs/assets';
/** The two files the docs page loads, and their types. */
const SWAGGER_FILES: Record<string, string> = { 'swagger-ui.css': 'text/css; charset=utf-8', 'swagger-ui-bundle.js': 'text/javascript; charset=utf-8' };

/** The folder of the installed swagger-ui-dist, or null where it is not installed (a bundled Lambda function). */
function swaggerUiDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    return null;
  }
}

/**
 * `/docs`: Swagger UI over /openapi.json. Its script and stylesheet come from the installed swagger-ui-dist, so the
 * page works with no network (the local stack); where the package is not installed they come from its CDN copy of
 * the same pinned release.
 */
export function docsRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  const dir = swaggerUiDir();
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'OCD video edit API', ...(dir ? { baseUrl: DOCS_ASSETS } : { version: SWAGGER_UI_VERSION }) }));
  if (dir) {
    app.get(`${DOCS_ASSETS}/swagger-ui-dist/:file`, async (c) => {
      const file = c.req.param('file');
      const type = SWAGGER_FILES[file];
      if (!type) return c.notFound();
      const body = await readFile(join(dir, file));
      return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
    });
  }
  return app;
}
