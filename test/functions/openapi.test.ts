import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app.ts';
import { PROBLEM_CODES } from '../../shared/errors.ts';
import { fakeDeps } from './fakes.ts';

type Json = Record<string, unknown> & { [key: string]: never | unknown };
interface Operation {
  operationId?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; schema: Json }[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}

let doc: { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> } };

const ROUTES: [string, string, boolean][] = [
  ['get', '/healthz', false],
  ['get', '/problems/{code}', false],
  ['post', '/v1/uploads', true],
  ['post', '/v1/edits', true],
  ['get', '/v1/edits', true],
  ['get', '/v1/edits/{id}', true],
  ['post', '/v1/edits/{id}/cancel', true],
];

function collectRefs(value: unknown, refs: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => collectRefs(item, refs));
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') refs.push(inner);
      else collectRefs(inner, refs);
    }
  }
  return refs;
}

function resolve(schema: Json): Json {
  const ref = schema.$ref as string | undefined;
  return ref ? doc.components.schemas[ref.replace('#/components/schemas/', '')] : schema;
}

beforeAll(async () => {
  const response = await createApp(fakeDeps()).request('/openapi.json');
  expect(response.status).toBe(200);
  doc = await response.json();
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a bearer security scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes exactly the served routes', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map(([method, path]) => `${method} ${path}`).sort());
  });

  it('resolves every $ref', () => {
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.replace('#/components/schemas/', '')], ref).toBeDefined();
    }
  });

  it.each(ROUTES)('%s %s: success and problem+json error responses, auth where required', (method, path, authenticated) => {
    const operation = doc.paths[path][method];
    const statuses = Object.keys(operation.responses);
    expect(statuses.some((status) => status.startsWith('2'))).toBe(true);
    expect(statuses.some((status) => status.startsWith('4'))).toBe(true);
    for (const [status, response] of Object.entries(operation.responses)) {
      expect(response.description.length).toBeGreaterThan(3);
      // A range ('4XX') stands for answers from in front of the API, which are not ours to shape.
      if (/^[45]\d\d$/.test(status)) expect(response.content?.['application/problem+json']?.schema).toEqual({ $ref: '#/components/schemas/Problem' });
    }
    if (authenticated) {
      expect(operation.security).toEqual([{ bearerAuth: [] }]);
      expect(statuses).toContain('401');
    } else {
      expect(operation.security).toEqual([]);
    }
    for (const name of path.match(/\{(\w+)\}/g) ?? []) {
      expect(operation.parameters?.find((p) => p.in === 'path' && `{${p.name}}` === name)?.required).toBe(true);
    }
  });

  it('names every operation with a stable, unique operationId for generated clients', () => {
    const ids = Object.fromEntries(ROUTES.map(([method, path]) => [`${method} ${path}`, doc.paths[path][method].operationId]));
    expect(ids).toEqual({
      'get /healthz': 'getHealth',
      'get /problems/{code}': 'getProblemType',
      'post /v1/uploads': 'createUpload',
      'post /v1/edits': 'createEdit',
      'get /v1/edits': 'listEdits',
      'get /v1/edits/{id}': 'getEdit',
      'post /v1/edits/{id}/cancel': 'cancelEdit',
    });
  });

  it('names its server, licence and tags', async () => {
    const served = await (await createApp(fakeDeps({ publicBaseUrl: 'https://api.ocd-video.dev/' })).request('/openapi.json')).json();
    expect(served.servers).toEqual([{ url: 'https://api.ocd-video.dev', description: expect.any(String) }]);
    // Without a configured public URL the document names the origin it was fetched from.
    const local = await (await createApp(fakeDeps()).request('http://127.0.0.1:8787/openapi.json')).json();
    expect(local.servers[0].url).toBe('http://127.0.0.1:8787');
    expect(served.info.license).toEqual({ name: 'Apache-2.0', identifier: 'Apache-2.0' });
    expect(served.tags.map((tag: { name: string }) => tag.name).sort()).toEqual(['edits', 'meta', 'uploads']);
  });

  it('documents the list query, the idempotency header and both create bodies', () => {
    const list = doc.paths['/v1/edits'].get.parameters!.map((p) => `${p.in}:${p.name}`);
    expect(list).toEqual(expect.arrayContaining(['query:limit', 'query:cursor']));
    const create = doc.paths['/v1/edits'].post;
    expect(create.parameters!.map((p) => `${p.in}:${p.name}`)).toContain('header:idempotency-key');
    expect(Object.keys(create.requestBody!.content).sort()).toEqual(['application/json', 'multipart/form-data']);
    const form = resolve(create.requestBody!.content['multipart/form-data'].schema);
    expect(form.required).toEqual(['request', 'video']);
    expect((form.properties as Record<string, Json>).video).toMatchObject({ type: 'string', format: 'binary' });
  });

  it('documents every knob of the edit request with its bounds', () => {
    const create = resolve(doc.paths['/v1/edits'].post.requestBody!.content['application/json'].schema);
    const properties = create.properties as Record<string, Json>;
    expect(Object.keys(properties).sort()).toEqual(
      ['conditioningScale', 'control', 'crossFrame', 'editor', 'fusion', 'frames', 'input', 'inversion', 'mask', 'negativePrompt', 'ocd', 'preset', 'sampler', 'seed', 'size', 'sourcePrompt', 'targetPrompt', 'tome', 'webhookUrl'].sort(),
    );
    expect(create.required).toEqual(expect.arrayContaining(['sourcePrompt', 'targetPrompt', 'input']));
    expect(create.additionalProperties).toBe(false);
    const sampler = resolve(properties.sampler).properties as Record<string, Json>;
    expect(sampler.steps).toMatchObject({ minimum: 1, maximum: 100 });
    const ocd = resolve(properties.ocd).properties as Record<string, Json>;
    expect(Object.keys(ocd).sort()).toEqual(['background', 'dilate', 'gamma', 'mask', 'maskThreshold', 'phi', 'sampling']);
    expect(resolve(properties.preset).enum).toEqual(['ocd', 'optimized', 'fatezero', 'controlvideo', 'controlvideo-optimized', 'controlvideo-ocd']);
    expect(resolve(properties.editor).enum).toEqual(['fatezero', 'controlvideo']);
  });

  it('names every stable problem code somewhere in the responses', () => {
    const descriptions = Object.values(doc.paths)
      .flatMap((operations) => Object.values(operations))
      .flatMap((operation) => Object.values(operation.responses).map((response) => response.description))
      .join(' ');
    for (const code of PROBLEM_CODES) expect(descriptions, code).toContain(`\`${code}\``);
    expect((doc.components.schemas.Problem.properties as Record<string, Json>).code.enum).toEqual(PROBLEM_CODES);
  });
});
