/** The Lambda entry: API Gateway v2 / Function URL events in, Lambda results out, over the real app. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type LambdaResult = { statusCode: number; headers: Record<string, string>; body: string; isBase64Encoded: boolean };
let handler: (event: unknown, context: unknown) => Promise<LambdaResult>;

function event(method: string, path: string, options: { headers?: Record<string, string>; body?: string; base64?: boolean; query?: string } = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '26/Nov/2026:12:00:00 +0000',
      timeEpoch: 1795000000000,
    },
    body: options.body === undefined ? undefined : options.base64 ? Buffer.from(options.body).toString('base64') : options.body,
    isBase64Encoded: options.base64 ?? false,
  };
}

const context = { awsRequestId: 'aws-req-1', functionName: 'ocd-api', getRemainingTimeInMillis: () => 10_000 };

beforeAll(async () => {
  // The entry loads its configuration at import, as at a cold start; no AWS call happens in these tests.
  vi.stubEnv('OCD_BUCKET', 'ocd-test-bucket');
  vi.stubEnv('OCD_TABLE', 'ocd-test-jobs');
  vi.stubEnv('OCD_QUEUE_URL', 'https://sqs.us-east-1.amazonaws.com/123456789012/ocd-edit-jobs');
  vi.stubEnv('OCD_API_KEYS', 'alice:ocd_lambda-test-key');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
  ({ handler } = (await import('../../functions/lambda.ts')) as unknown as { handler: typeof handler });
});

afterAll(() => {
  vi.unstubAllEnvs();
});

describe('functions/lambda.ts handler', () => {
  it('answers GET /healthz', async () => {
    const result = await handler(event('GET', '/healthz'), context);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ status: 'ok' });
    expect(result.headers['x-request-id']).toBe('aws-req-1');
  });

  it('turns a rejected request into a problem+json result', async () => {
    const result = await handler(event('GET', '/v1/edits', { query: 'limit=5' }), context);
    expect(result.statusCode).toBe(401);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(result.body)).toMatchObject({ code: 'unauthorized' });
  });

  it('passes headers and a base64 body through to the app', async () => {
    const body = JSON.stringify({ contentType: 'video/mp4', contentLength: 1234 });
    const result = await handler(
      event('POST', '/v1/uploads', { headers: { authorization: 'Bearer ocd_lambda-test-key', 'content-type': 'application/json' }, body, base64: true }),
      context,
    );
    expect(result.statusCode).toBe(201);
    const ticket = JSON.parse(result.body);
    expect(ticket.fields.key).toBe(`uploads/alice/${ticket.uploadId}`);
    expect(ticket.url).toContain('ocd-test-bucket');
    expect(JSON.parse(Buffer.from(ticket.fields.Policy, 'base64').toString()).conditions).toEqual(
      expect.arrayContaining([['content-length-range', 1, 1234], ['eq', '$Content-Type', 'video/mp4']]),
    );
  });
});
