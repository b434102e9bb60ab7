/**
 * A typed API client built only from what openapi-typescript generates from the served document
 * (`generated/openapi-types.ts`) and openapi-fetch: what a caller of the API would write. Its types are checked
 * together with the generated file in generated-client.test.ts.
 */
import createClient from 'openapi-fetch';
import type { operations, paths } from './generated/openapi-types.ts';

/** The created job as the generated `createEdit` operation types it. */
export type CreatedEdit = operations['createEdit']['responses'][202]['content']['application/json'];

/**
 * A client for the API at `baseUrl` with an API key; `fetch` lets tests route requests into an app in process.
 * @example const api = apiClient('https://api.example', key); await api.GET('/v1/edits/{id}', { params: { path: { id } } });
 */
export function apiClient(baseUrl: string, apiKey: string, fetch?: (request: Request) => Promise<Response>) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` }, ...(fetch ? { fetch } : {}) });
}
