/** POST /v1/uploads: a presigned POST the caller sends the video to, straight to S3. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { CreateUploadBodySchema, UploadTicketSchema } from '../../shared/api.ts';
import { uploadKey } from '../../shared/s3-keys.ts';
import type { ResolvedDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { ProblemError, problemResponses, validationHook } from '../problems.ts';

const createUpload = createRoute({
  method: 'post',
  path: '/',
  tags: ['uploads'],
  operationId: 'createUpload',
  summary: 'Start an upload',
  description:
    'Returns a presigned POST limited to the declared size and type. POST a multipart form to `url` with every entry of `fields` followed by the file as `file`, then pass `uploadId` to POST /v1/edits.',
  security: [{ bearerAuth: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: CreateUploadBodySchema } } } },
  responses: {
    201: { description: 'Upload ticket.', content: { 'application/json': { schema: UploadTicketSchema } } },
    ...problemResponses('validation_failed', 'malformed_json', 'unauthorized', 'payload_too_large', 'unsupported_media_type', 'internal'),
  },
});

export function uploadRoutes(deps: ResolvedDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(createUpload, async (c) => {
    const body = c.req.valid('json');
    const { maxUploadBytes, uploadExpirySeconds } = deps.config;
    if (body.contentLength > maxUploadBytes) {
      throw new ProblemError('validation_failed', `contentLength ${body.contentLength} exceeds the ${maxUploadBytes}-byte limit; trim or re-encode the clip.`, {
        errors: [{ path: 'contentLength', message: `must be at most ${maxUploadBytes}` }],
      });
    }
    const uploadId = deps.newId();
    const ticket = await deps.storage.presignUpload(uploadKey(c.get('tenant'), uploadId), {
      contentType: body.contentType,
      maxBytes: body.contentLength,
      expiresSeconds: uploadExpirySeconds,
    });
    const expiresAt = new Date(deps.clock().getTime() + uploadExpirySeconds * 1000).toISOString();
    return c.json({ uploadId, url: ticket.url, fields: ticket.fields, maxBytes: body.contentLength, expiresAt }, 201);
  });
  return app;
}
