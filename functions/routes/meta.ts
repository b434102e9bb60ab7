/** Unauthenticated routes: health and the problem-type catalogue that problem `type` URIs point to. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { PROBLEM_CODES, PROBLEM_TYPES, problemTypeUri, type ProblemCode } from '../../shared/errors.ts';
import type { AppEnv } from '../env.ts';
import { problemResponses, validationHook } from '../problems.ts';

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['meta'],
  summary: 'Liveness',
  responses: { 200: { description: 'The API is up.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
});

const ProblemTypeSchema = z.object({ type: z.string(), code: z.string(), status: z.int(), title: z.string() }).meta({ id: 'ProblemType' });

const problemType = createRoute({
  method: 'get',
  path: '/problems/{code}',
  tags: ['meta'],
  summary: 'Describe a problem type',
  request: { params: z.object({ code: z.string() }) },
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
