/**
 * API keys: format, hashing and the Secrets Manager secret that lists them. Only SHA-256 hashes are ever
 * stored; a presented key is hashed and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ApiKeyHash } from './config.ts';

export const API_KEY_PREFIX = 'ocd_';

/** A new random key: `ocd_` + 32 random bytes in base64url. Show it once; store only `hashApiKey(key)`. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** SHA-256 of the key as lowercase hex. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The JSON stored in the API-keys secret. */
export const ApiKeysSecretSchema = z.object({
  keys: z.array(
    z.object({
      tenant: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'tenant ids use 1-64 characters from A-Z, a-z, 0-9, _ and -'),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex SHA-256 of the key'),
      createdAt: z.string().optional(),
    }),
  ),
});
export type ApiKeysSecret = z.infer<typeof ApiKeysSecretSchema>;

/**
 * Parse the secret string.
 *
 * @throws Error naming the offending entry when the secret is not `{"keys":[{"tenant","sha256","createdAt"}]}`.
 */
export function parseApiKeysSecret(secretString: string): ApiKeyHash[] {
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new Error('The API-keys secret is not JSON; expected {"keys":[{"tenant":"...","sha256":"<hex>","createdAt":"..."}]}.');
  }
  const parsed = ApiKeysSecretSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`The API-keys secret is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
  }
  return parsed.data.keys.map(({ tenant, sha256 }) => ({ tenant, sha256 }));
}

/**
 * Find the tenant a presented key belongs to. Every stored hash is compared in constant time, so the time
 * taken does not reveal which hash (or how much of one) matched.
 */
export function findTenant(key: string, hashes: readonly ApiKeyHash[]): string | undefined {
  const presented = Buffer.from(hashApiKey(key), 'hex');
  let tenant: string | undefined;
  for (const entry of hashes) {
    const stored = Buffer.from(entry.sha256, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented) && tenant === undefined) tenant = entry.tenant;
  }
  return tenant;
}
