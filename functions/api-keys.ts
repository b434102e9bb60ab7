/**
 * API key resolution: hashes from the Secrets Manager secret (production) or from configuration (local).
 * Plain development keys are hashed at start and never kept.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { findTenant, hashApiKey, parseApiKeysSecret } from '../shared/api-keys.ts';
import type { ApiConfig, ApiKeyHash } from '../shared/config.ts';
import type { ApiKeyResolver } from './deps.ts';

/** Keys known up front. */
export function staticKeyResolver(hashes: readonly ApiKeyHash[]): ApiKeyResolver {
  const copy = [...hashes];
  return { tenantFor: async (key) => findTenant(key, copy) };
}

/** The hashes configured directly (`OCD_API_KEY_HASHES`, `OCD_API_KEYS`). */
export function configuredHashes(auth: ApiConfig['auth']): ApiKeyHash[] {
  return [...auth.hashes, ...auth.devKeys.map(({ tenant, key }) => ({ tenant, sha256: hashApiKey(key) }))];
}

/**
 * Keys from a Secrets Manager secret plus the configured ones. The secret is read on first use and re-read
 * after `refreshSeconds`, so a rotated key takes effect without a deploy.
 */
export function secretKeyResolver(
  client: SecretsManagerClient,
  secretArn: string,
  extra: readonly ApiKeyHash[],
  options: { refreshSeconds?: number; clock?: () => Date } = {},
): ApiKeyResolver {
  const refreshMs = (options.refreshSeconds ?? 300) * 1000;
  const clock = options.clock ?? (() => new Date());
  let cache: { hashes: ApiKeyHash[]; loadedAt: number } | undefined;
  return {
    async tenantFor(key) {
      const now = clock().getTime();
      if (!cache || now - cache.loadedAt > refreshMs) {
        const secret = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
        if (!secret.SecretString) throw new Error(`Secret ${secretArn} has no SecretString; store {"keys":[...]} as text.`);
        cache = { hashes: [...parseApiKeysSecret(secret.SecretString), ...extra], loadedAt: now };
      }
      return findTenant(key, cache.hashes);
    },
  };
}
