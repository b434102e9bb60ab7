/**
 * The local stack's one shared configuration: ports, the development API key and where data lives. Every
 * part (`npm start`, or `start:emulator`, `start:api`, `start:worker` as separate processes) reads the same
 * files under the data folder, so a worker can be stopped, killed or added alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../shared/api-keys.ts';

// The SDK is pinned to a version that supports Node 20; its notice about later versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface LocalSettings {
  /** The development tenant and its key (local only: kept in plain text under the data folder). */
  tenant: string;
  apiKey: string;
  ports: { api: number; s3: number; sqs: number; dynamodb: number; workerHealth: number };
}

export interface LocalPaths {
  root: string;
  settings: string;
  /** Written by the emulator process once it listens: the environment that points at it. */
  emulatorEnv: string;
  s3: string;
  dynamodb: string;
  cache: string;
  work: string;
}

export function localPaths(dataDir = process.env.OCD_DATA_DIR ?? join(REPO_ROOT, '.data')): LocalPaths {
  const root = resolve(dataDir);
  return {
    root,
    settings: join(root, 'settings.json'),
    emulatorEnv: join(root, 'emulators.json'),
    s3: join(root, 's3'),
    dynamodb: join(root, 'dynamodb'),
    cache: process.env.OCD_CACHE_DIR ?? join(REPO_ROOT, '.cache'),
    work: join(root, 'work'),
  };
}

const DEFAULT_PORTS: LocalSettings['ports'] = { api: 8787, s3: 8788, sqs: 8789, dynamodb: 8790, workerHealth: 8791 };

/** Reads the settings, creating them (with a new development key) on first use. `PORT` overrides the API port. */
export function loadLocalSettings(paths: LocalPaths): LocalSettings {
  let settings: LocalSettings;
  if (existsSync(paths.settings)) {
    settings = JSON.parse(readFileSync(paths.settings, 'utf8')) as LocalSettings;
    settings.ports = { ...DEFAULT_PORTS, ...settings.ports };
  } else {
    settings = { tenant: 'dev', apiKey: generateApiKey(), ports: { ...DEFAULT_PORTS } };
    mkdirSync(dirname(paths.settings), { recursive: true });
    writeFileSync(paths.settings, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  }
  if (process.env.PORT) settings.ports.api = Number(process.env.PORT);
  return settings;
}

export function writeEmulatorEnv(paths: LocalPaths, env: Record<string, string>): void {
  writeFileSync(paths.emulatorEnv, `${JSON.stringify({ pid: process.pid, env }, null, 2)}\n`);
}

/** The emulator environment written by a running emulator process, waiting up to `timeoutMs` for it. */
export async function readEmulatorEnv(paths: LocalPaths, timeoutMs = 30_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(paths.emulatorEnv)) {
      const { pid, env } = JSON.parse(readFileSync(paths.emulatorEnv, 'utf8')) as { pid: number; env: Record<string, string> };
      if (isAlive(pid)) return env;
    }
    if (Date.now() > deadline) {
      throw new Error(`No emulators are running for ${paths.root}: start them first with \`npm run start:emulator\` (or run everything with \`npm start\`).`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Environment of the API process. */
export function apiEnv(settings: LocalSettings, emulatorEnv: Record<string, string>): Record<string, string> {
  return {
    ...emulatorEnv,
    PORT: String(settings.ports.api),
    OCD_API_KEYS: `${settings.tenant}:${settings.apiKey}`,
    // Local webhooks usually point at a receiver on this machine.
    OCD_ALLOW_PRIVATE_WEBHOOKS: 'true',
  };
}

/** Environment of a worker process; `modelDir` is the tiny bundle unless OCD_MODEL_DIR is set. */
export function workerEnv(settings: LocalSettings, emulatorEnv: Record<string, string>, paths: LocalPaths, modelDir: string, healthPort = settings.ports.workerHealth): Record<string, string> {
  return {
    ...emulatorEnv,
    OCD_MODEL_DIR: modelDir,
    // Local webhooks usually point at a receiver on this machine (the API allows them too).
    OCD_ALLOW_PRIVATE_WEBHOOKS: 'true',
    OCD_MODEL_CACHE_DIR: join(paths.cache, 'models'),
    OCD_PROVIDER: process.env.OCD_PROVIDER ?? 'cpu',
    OCD_HEALTH_PORT: String(healthPort),
  };
}
