/**
 * `ocd keys`: issue and revoke API keys. A key is printed once and never stored: the Secrets Manager secret the API
 * reads (`{"keys":[{"tenant","sha256","createdAt"}]}`) keeps only its SHA-256.
 *
 *   ocd keys create --tenant <name> --secret-id <arn|name> [--region <r>]
 *   ocd keys create --tenant <name> --dry-run          (no AWS: prints the key and the entry to add by hand)
 *   ocd keys list   --secret-id <arn|name> [--region <r>]
 *   ocd keys revoke --tenant <name> [--sha256 <hex prefix>] --secret-id <arn|name> [--region <r>]
 */
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseArgs } from 'node:util';
import { ApiKeysSecretSchema, generateApiKey, hashApiKey, type ApiKeysSecret } from '../../shared/api-keys.ts';

export const summary = 'create, list or revoke API keys (only their SHA-256 hashes are stored, in Secrets Manager)';

const USAGE = `usage:
  ocd keys create --tenant <name> --secret-id <arn|name> [--region <region>]
  ocd keys create --tenant <name> --dry-run      print the key and its secret entry; no AWS call
  ocd keys list   --secret-id <arn|name> [--region <region>]
  ocd keys revoke --tenant <name> [--sha256 <hex prefix>] --secret-id <arn|name> [--region <region>]
The secret id is the stack output ApiKeysSecretArn. --print-hash-only is an alias of --dry-run.`;

const TENANT = /^[A-Za-z0-9_-]{1,64}$/;

/** Where the key list is read from and written to (Secrets Manager in production, a fake in tests). */
export interface KeyListStore {
  read(secretId: string): Promise<string>;
  write(secretId: string, secretString: string): Promise<void>;
}

/** What the command needs from the outside world; tests pass their own. */
export interface KeysCommandDeps {
  store(region: string | undefined): KeyListStore;
  now(): Date;
  generateKey(): string;
  out(line: string): void;
  err(line: string): void;
}

/** The Secrets Manager store; the region falls back to the SDK's own chain (AWS_REGION, profile). */
export function secretsManagerStore(region: string | undefined): KeyListStore {
  const client = new SecretsManagerClient(region ? { region } : {});
  return {
    async read(secretId) {
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (SecretString === undefined) throw new Error(`The secret ${secretId} has no string value; expected {"keys":[...]}.`);
      return SecretString;
    },
    async write(secretId, secretString) {
      await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: secretString }));
    },
  };
}

const defaultDeps: KeysCommandDeps = {
  store: secretsManagerStore,
  now: () => new Date(),
  generateKey: generateApiKey,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

export async function run(argv: string[]): Promise<number> {
  return runKeys(argv, defaultDeps);
}

/**
 * Runs `ocd keys` with injected dependencies.
 * @returns the exit code: 0 done, 1 failed, 2 usage error.
 */
export async function runKeys(argv: string[], deps: KeysCommandDeps): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        'secret-id': { type: 'string' },
        region: { type: 'string' },
        sha256: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'print-hash-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    deps.err(`ocd keys: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [action] = positionals;
  if (values.help || action === undefined) {
    (values.help ? deps.out : deps.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const usageError = (message: string): number => {
    deps.err(`ocd keys ${action}: ${message}\n${USAGE}`);
    return 2;
  };
  const dryRun = values['dry-run'] || values['print-hash-only'];
  const secretId = values['secret-id'];

  try {
    switch (action) {
      case 'create': {
        const tenant = values.tenant;
        if (!tenant || !TENANT.test(tenant)) {
          return usageError(`--tenant is ${JSON.stringify(tenant ?? null)}; use 1-64 characters from A-Z, a-z, 0-9, _ and -.`);
        }
        if (!dryRun && !secretId) return usageError('--secret-id is required (the stack output ApiKeysSecretArn), or pass --dry-run.');
        const key = deps.generateKey();
        const entry = { tenant, sha256: hashApiKey(key), createdAt: deps.now().toISOString() };
        if (!dryRun) {
          const list = await updateKeyList(deps.store(values.region), secretId!, {
            apply: (current) => ({ ...current, keys: [...current.keys, entry] }),
            isApplied: (current) => current.keys.some((k) => k.sha256 === entry.sha256),
          });
          deps.err(`Stored the hash of a new key for tenant '${tenant}' in ${secretId} (${list.keys.length} keys in total).`);
        } else {
          deps.err(`Dry run: nothing was stored. Add this entry to the "keys" list of the API-keys secret:\n${JSON.stringify(entry)}`);
        }
        deps.err('The key is shown once and cannot be recovered; give it to the tenant now:');
        deps.out(key);
        return 0;
      }
      case 'list': {
        if (!secretId) return usageError('--secret-id is required (the stack output ApiKeysSecretArn).');
        const list = await readKeyList(deps.store(values.region), secretId);
        for (const { tenant, sha256, createdAt } of list.keys) deps.out(`${tenant}\t${sha256.slice(0, 12)}\t${createdAt ?? '-'}`);
        return 0;
      }
      case 'revoke': {
        const tenant = values.tenant;
        if (!tenant) return usageError('--tenant is required.');
        if (!secretId) return usageError('--secret-id is required (the stack output ApiKeysSecretArn).');
        const store = deps.store(values.region);
        const prefix = values.sha256?.toLowerCase();
        const revoked = (k: ApiKeysSecret['keys'][number]) => k.tenant === tenant && (prefix === undefined || k.sha256.startsWith(prefix));
        const removed = (await readKeyList(store, secretId)).keys.filter(revoked).length;
        if (removed === 0) {
          deps.err(`No key of tenant '${tenant}'${prefix ? ` with a hash starting ${prefix}` : ''} in ${secretId}; nothing changed.`);
          return 1;
        }
        await updateKeyList(store, secretId, {
          apply: (current) => ({ ...current, keys: current.keys.filter((k) => !revoked(k)) }),
          isApplied: (current) => !current.keys.some(revoked),
        });
        deps.err(`Revoked ${removed} key(s) of tenant '${tenant}'. The API picks the change up when it next reloads the secret.`);
        return 0;
      }
      default:
        return usageError(`unknown action '${action}'; use create, list or revoke.`);
    }
  } catch (error) {
    deps.err(`ocd keys ${action}: ${(error as Error).message}`);
    return 1;
  }
}

/** Attempts of `updateKeyList` before it gives up. */
const UPDATE_ATTEMPTS = 5;

/**
 * Read-modify-write of the key list, checked by reading it back: Secrets Manager has no conditional write, so a
 * concurrent `ocd keys` can overwrite ours; then we apply the change again on top of theirs.
 * @throws when the change is still missing after UPDATE_ATTEMPTS writes.
 */
async function updateKeyList(
  store: KeyListStore,
  secretId: string,
  change: { apply(list: ApiKeysSecret): ApiKeysSecret; isApplied(list: ApiKeysSecret): boolean },
): Promise<ApiKeysSecret> {
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const current = await readKeyList(store, secretId);
    if (change.isApplied(current)) return current;
    await store.write(secretId, JSON.stringify(change.apply(current)));
    const written = await readKeyList(store, secretId);
    if (change.isApplied(written)) return written;
  }
  throw new Error(`The key list in ${secretId} kept changing under this command (${UPDATE_ATTEMPTS} attempts); run it again when no other \`ocd keys\` runs.`);
}

async function readKeyList(store: KeyListStore, secretId: string): Promise<ApiKeysSecret> {
  const text = await store.read(secretId);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`The secret ${secretId} is not JSON; expected {"keys":[{"tenant","sha256","createdAt"}]}. Fix the secret value first.`);
  }
  const parsed = ApiKeysSecretSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`The secret ${secretId} is not a key list: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
  }
  return parsed.data;
}
