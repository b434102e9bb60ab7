import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { runKeys, type KeyListStore, type KeysCommandDeps } from '../../cli/commands/keys.ts';
import { REPO_ROOT } from './support/synth.ts';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ocd-api-keys';

/** An in-memory secret that records every write. */
function fakeDeps(initial: string) {
  const secrets = new Map([[SECRET_ID, initial]]);
  const writes: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const regions: (string | undefined)[] = [];
  const store: KeyListStore = {
    async read(id) {
      const value = secrets.get(id);
      if (value === undefined) throw new Error(`ResourceNotFoundException: ${id}`);
      return value;
    },
    async write(id, value) {
      secrets.set(id, value);
      writes.push(value);
    },
  };
  let counter = 0;
  const deps: KeysCommandDeps = {
    store: (region) => (regions.push(region), store),
    now: () => new Date('2026-11-26T12:00:00.000Z'),
    generateKey: () => `ocd_test-key-${++counter}`,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  };
  return { deps, secrets, writes, out, err, regions };
}

describe('ocd keys create', () => {
  let fake: ReturnType<typeof fakeDeps>;
  beforeEach(() => {
    fake = fakeDeps(JSON.stringify({ keys: [{ tenant: 'old', sha256: sha256('ocd_old'), createdAt: '2026-01-01T00:00:00.000Z' }] }));
  });

  it('prints the key once and stores only its SHA-256, keeping the existing keys', async () => {
    // WHEN
    const code = await runKeys(['create', '--tenant', 'acme', '--secret-id', SECRET_ID, '--region', 'eu-west-1'], fake.deps);
    // THEN
    expect(code).toBe(0);
    expect(fake.out).toEqual(['ocd_test-key-1']);
    expect(fake.regions).toEqual(['eu-west-1']);
    const stored = JSON.parse(fake.secrets.get(SECRET_ID)!);
    expect(stored.keys).toEqual([
      { tenant: 'old', sha256: sha256('ocd_old'), createdAt: '2026-01-01T00:00:00.000Z' },
      { tenant: 'acme', sha256: sha256('ocd_test-key-1'), createdAt: '2026-11-26T12:00:00.000Z' },
    ]);
    expect(fake.secrets.get(SECRET_ID)).not.toContain('ocd_test-key-1');
    expect(fake.err.join('\n')).not.toContain('ocd_test-key-1');
  });

  it.each([['--dry-run'], ['--print-hash-only']])('%s prints the key and the entry without touching the store', async (flag) => {
    const code = await runKeys(['create', '--tenant', 'acme', flag], fake.deps);
    expect(code).toBe(0);
    expect(fake.regions).toEqual([]);
    expect(fake.writes).toEqual([]);
    expect(fake.out).toEqual(['ocd_test-key-1']);
    expect(fake.err.join('\n')).toContain(JSON.stringify({ tenant: 'acme', sha256: sha256('ocd_test-key-1'), createdAt: '2026-11-26T12:00:00.000Z' }));
  });

  it.each([
    [['create', '--secret-id', SECRET_ID], /--tenant is null/],
    [['create', '--tenant', 'two words', '--secret-id', SECRET_ID], /--tenant is "two words"/],
    [['create', '--tenant', 'acme'], /--secret-id is required/],
    [['rotate', '--tenant', 'acme'], /unknown action 'rotate'/],
    [['create', '--bogus'], /Unknown option '--bogus'/],
  ])('fails with a usage error for %j', async (argv, message) => {
    expect(await runKeys(argv, fake.deps)).toBe(2);
    expect(fake.err.join('\n')).toMatch(message);
    expect(fake.writes).toEqual([]);
  });

  it('fails without writing when the secret is not a key list', async () => {
    fake = fakeDeps('{"keys":[{"tenant":"x","sha256":"not-hex"}]}');
    expect(await runKeys(['create', '--tenant', 'acme', '--secret-id', SECRET_ID], fake.deps)).toBe(1);
    expect(fake.err.join('\n')).toMatch(/is not a key list: keys\.0\.sha256/);
    expect(fake.writes).toEqual([]);
    expect(fake.out).toEqual([]);
  });
});

describe('concurrent writers', () => {
  it('applies the change again when another writer overwrote it (no lost key)', async () => {
    const fake = fakeDeps(JSON.stringify({ keys: [] }));
    // Another `ocd keys` writes its own list (based on the old value) right after our first write.
    const store = fake.deps.store(undefined);
    let overwrites = 1;
    const racing: KeysCommandDeps = {
      ...fake.deps,
      store: () => ({
        read: (id) => store.read(id),
        async write(id, value) {
          await store.write(id, value);
          if (overwrites-- > 0) await store.write(id, JSON.stringify({ keys: [{ tenant: 'other', sha256: sha256('ocd_other') }] }));
        },
      }),
    };
    expect(await runKeys(['create', '--tenant', 'acme', '--secret-id', SECRET_ID], racing)).toBe(0);
    const tenants = JSON.parse(fake.secrets.get(SECRET_ID)!).keys.map((k: { tenant: string }) => k.tenant);
    expect(tenants).toEqual(['other', 'acme']);
    expect(fake.out).toEqual(['ocd_test-key-1']);
  });

  it('gives up without printing a key when the list keeps changing', async () => {
    const fake = fakeDeps(JSON.stringify({ keys: [] }));
    const store = fake.deps.store(undefined);
    const hostile: KeysCommandDeps = {
      ...fake.deps,
      store: () => ({ read: (id) => store.read(id), write: (id) => store.write(id, JSON.stringify({ keys: [] })) }),
    };
    expect(await runKeys(['create', '--tenant', 'acme', '--secret-id', SECRET_ID], hostile)).toBe(1);
    expect(fake.err.join('\n')).toMatch(/kept changing under this command \(5 attempts\)/);
    expect(fake.out).toEqual([]);
  });
});

describe('ocd keys list and revoke', () => {
  it('lists tenants with a hash prefix, and revokes one tenant\'s keys only', async () => {
    const fake = fakeDeps(JSON.stringify({ keys: [] }));
    await runKeys(['create', '--tenant', 'acme', '--secret-id', SECRET_ID], fake.deps);
    await runKeys(['create', '--tenant', 'globex', '--secret-id', SECRET_ID], fake.deps);
    fake.out.length = 0;

    expect(await runKeys(['list', '--secret-id', SECRET_ID], fake.deps)).toBe(0);
    expect(fake.out).toEqual([
      `acme\t${sha256('ocd_test-key-1').slice(0, 12)}\t2026-11-26T12:00:00.000Z`,
      `globex\t${sha256('ocd_test-key-2').slice(0, 12)}\t2026-11-26T12:00:00.000Z`,
    ]);

    expect(await runKeys(['revoke', '--tenant', 'acme', '--secret-id', SECRET_ID], fake.deps)).toBe(0);
    expect(JSON.parse(fake.secrets.get(SECRET_ID)!).keys.map((k: { tenant: string }) => k.tenant)).toEqual(['globex']);
    // Revoking what is not there changes nothing and says so.
    expect(await runKeys(['revoke', '--tenant', 'acme', '--secret-id', SECRET_ID], fake.deps)).toBe(1);
    expect(fake.writes).toHaveLength(3);
    // A revoked key's hash is gone for good.
    expect(fake.secrets.get(SECRET_ID)).not.toContain(sha256('ocd_test-key-1'));
  });
});

describe('npx ocd keys (process)', () => {
  it('create --dry-run works offline through the CLI dispatcher and prints a key whose hash is the printed entry', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin/ocd.mjs'), 'keys', 'create', '--tenant', 'acme', '--dry-run'], {
      cwd: REPO_ROOT,
      env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'none' },
    });
    const key = stdout.trim();
    expect(key).toMatch(/^ocd_[A-Za-z0-9_-]{43}$/); // 32 bytes in base64url
    const entry = JSON.parse(/\{"tenant".*\}/.exec(stderr)![0]);
    expect(entry).toMatchObject({ tenant: 'acme', sha256: sha256(key) });
    expect(Number.isNaN(Date.parse(entry.createdAt))).toBe(false);
  });
});
