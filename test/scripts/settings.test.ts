/** The local stack's addresses: loopback by default, every port from one base port, flags over variables over the file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEnv, loadLocalSettings, localPaths, localUrl, workerEnv } from '../../scripts/local/settings.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ocd-settings-'));
  for (const name of ['OCD_BASE_PORT', 'OCD_HOST', 'PORT']) vi.stubEnv(name, undefined as unknown as string);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('loadLocalSettings', () => {
  it('listens on loopback at 8787..8791 by default, and every part is told so', () => {
    const settings = loadLocalSettings(localPaths(dir));
    expect(settings.host).toBe('127.0.0.1');
    expect(settings.ports).toEqual({ api: 8787, s3: 8788, sqs: 8789, dynamodb: 8790, workerHealth: 8791 });
    expect(apiEnv(settings, {}).HOST).toBe('127.0.0.1');
    expect(workerEnv(settings, {}, localPaths(dir), 'model').OCD_HEALTH_HOST).toBe('127.0.0.1');
  });

  it('moves all five ports with one base port: the flag over OCD_BASE_PORT over settings.json', () => {
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ tenant: 't', apiKey: 'k', ports: { api: 9100, s3: 9101, sqs: 9102, dynamodb: 9103, workerHealth: 9104 } }));
    expect(loadLocalSettings(localPaths(dir)).ports.api).toBe(9100);
    vi.stubEnv('OCD_BASE_PORT', '9200');
    expect(loadLocalSettings(localPaths(dir)).ports).toEqual({ api: 9200, s3: 9201, sqs: 9202, dynamodb: 9203, workerHealth: 9204 });
    expect(loadLocalSettings(localPaths(dir), { basePort: 9300 }).ports.workerHealth).toBe(9304);
  });

  it('takes another address from --host or OCD_HOST; a wildcard is reached through loopback', () => {
    vi.stubEnv('OCD_HOST', '0.0.0.0');
    const settings = loadLocalSettings(localPaths(dir));
    expect(settings.host).toBe('0.0.0.0');
    expect(localUrl(settings, 8787)).toBe('http://127.0.0.1:8787');
    expect(loadLocalSettings(localPaths(dir), { host: '::1' }).host).toBe('::1');
  });

  it('names the variable when a port is not a port', () => {
    vi.stubEnv('OCD_BASE_PORT', 'eighty');
    expect(() => loadLocalSettings(localPaths(dir))).toThrow(/OCD_BASE_PORT must be a port number.*'eighty'/);
  });
});
