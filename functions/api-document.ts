/**
 * The OpenAPI document served at /openapi.json: the routes' own entries plus what describes the API as a whole
 * (servers, licence, tags, the bearer scheme). Kept clean under Redocly's `recommended` and Spectral's
 * `spectral:oas` rules (test/functions/openapi-lint.test.ts), so generated clients can rely on it.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppConfig } from './deps.ts';
import type { AppEnv } from './env.ts';
import { createEditDoc } from './routes/edits.ts';

export const API_VERSION = '1.0.0';

const TAGS = [
  { name: 'uploads', description: 'Send a video straight to storage through a presigned POST.' },
  { name: 'edits', description: 'Create, follow, list and cancel edit jobs.' },
  { name: 'meta', description: 'Health and the catalogue of problem types; no key needed.' },
];

/** Where the API is reached: the configured public URL, else the origin the document was fetched from. */
function serverUrl(config: AppConfig, requestUrl: string): string {
  return (config.publicBaseUrl ?? new URL(requestUrl).origin).replace(/\/+$/, '');
}

/** Register the document's shared parts and serve it at /openapi.json. */
export function serveApiDocument(app: OpenAPIHono<AppEnv>, config: AppConfig): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'API key: `Authorization: Bearer ocd_...`.',
  });
  // The create route parses its own body, so its entry is registered here rather than through app.openapi().
  app.openAPIRegistry.registerPath(createEditDoc);
  app.doc31('/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: {
      title: 'OCD video edit API',
      version: API_VERSION,
      description: 'Upload a short clip, describe it and what it should become, and get the edited clip back. Errors are RFC 9457 problem+json.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      contact: { name: 'OCD video edit maintainers' },
    },
    servers: [{ url: serverUrl(config, c.req.url), description: 'This deployment.' }],
    tags: TAGS,
  }));
}
