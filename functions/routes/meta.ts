/** Unauthenticated routes: health and the problem-type catalogue that problem `type` URIs point to. */
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
