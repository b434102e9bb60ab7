import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { configuredHashes, secretKeyResolver, staticKeyResolver } from '../../functions/api-keys.ts';
import { apiKeyAuth } from '../../functions/middleware/api-key-auth.ts';
import { bodyLimits } from '../../functions/middleware/body-limits.ts';
import { requestContext } from '../../functions/middleware/request-context.ts';
import { hashApiKey } from '../../shared/api-keys.ts';

/** A Secrets Manager client that serves one secret string and counts reads. */
function fakeSecrets(secretString: () => string) {
  const calls: unknown[] = [];
  const client = {
    send: async (command: { input: unknown }) => {
      calls.push(command.input);
      return { SecretString: secretString() };
    },
  } as unknown as SecretsManagerClient;
  return { client, calls };
}

describe('API key resolvers', () => {
  it('resolves configured hashes and hashed development keys', async () => {
    const resolver = staticKeyResolver(configuredHashes({ hashes: [{ tenant: 'prod', sha256: hashApiKey('ocd_prod') }], devKeys: [{ tenant: 'dev', key: 'ocd_dev' }] }));
    expect(await resolver.tenantFor('ocd_prod')).toBe('prod');
    expect(await resolver.tenantFor('ocd_dev')).toBe('dev');
    expect(await resolver.tenantFor('ocd_other')).toBeUndefined();
  });

  it('reads the secret once, then again after the refresh interval (key rotation)', async () => {
    let keys = [{ tenant: 'acme', sha256: hashApiKey('ocd_old') }];
    const secrets = fakeSecrets(() => JSON.stringify({ keys }));
    let now = 0;
    const resolver = secretKeyResolver(secrets.client, 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ocd-keys', [], { refreshSeconds: 60, clock: () => new Date(now) });
    expect(await resolver.tenantFor('ocd_old')).toBe('acme');
    keys = [{ tenant: 'acme', sha256: hashApiKey('ocd_new') }];
    now = 30_000;
    expect(await resolver.tenantFor('ocd_new')).toBeUndefined();
    expect(secrets.calls).toHaveLength(1);
    now = 61_000;
    expect(await resolver.tenantFor('ocd_new')).toBe('acme');
    expect(await resolver.tenantFor('ocd_old')).toBeUndefined();
    expect(secrets.calls).toEqual([{ SecretId: expect.stringContaining('ocd-keys') }, { SecretId: expect.stringContaining('ocd-keys') }]);
  });
});

describe('middleware factories fail when built wrongly', () => {
  it('apiKeyAuth without a resolver', () => {
    expect(() => apiKeyAuth({} as never)).toThrow(/needs `resolver`/);
  });
  it('requestContext without a logger', () => {
    expect(() => requestContext({} as never)).toThrow(/needs `log`/);
  });
  it('bodyLimits with a non-positive limit', () => {
    expect(() => bodyLimits({ maxJsonBytes: 0, maxMultipartBytes: 10 })).toThrow(/maxJsonBytes must be a positive number of bytes, got 0/);
  });
});
