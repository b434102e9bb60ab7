/**
 * The local stack's one shared configuration: ports, the development API key and where data lives. Every
 * part (`npm start`, or `start:emulator`, `start:api`, `start:worker` as separate processes) reads the same
 * files under the data folder, so a worker can be stopped, killed or added alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPBACK, reachableHost } from '../../local/hosts.ts';
import { generateApiKey } from '../../shared/api-keys.ts';

// The SDK is pinned to a version that supports Node 20; its notice about later versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface LocalSettings {
  /** The development tenant and its key (local only: kept in plain text under the data folder). */
  tenant: string;
  apiKey: string;
  ports: { api: number; s3: number; sqs: number; dynamodb: number; workerHealth: number };
  /** Address every part listens on: loopback unless `--host` / OCD_HOST says otherwise. Not persisted. */
  host: string;
}

/** How the stack's addresses are chosen for one run (flags of the start scripts; see `stackFlags`). */
export interface StackOverrides {
  /** The five ports are this and the next four, in the order api, s3, sqs, dynamodb, workerHealth. */
  basePort?: number;
  host?: string;
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

const PORT_ORDER = ['api', 's3', 'sqs', 'dynamodb', 'workerHealth'] as const;
export const DEFAULT_BASE_PORT = 8787;
const portsFrom = (base: number) => Object.fromEntries(PORT_ORDER.map((name, i) => [name, base + i])) as LocalSettings['ports'];

/**
 * Reads the settings, creating them (with a new development key) on first use. Ports, strongest first: the
 * `--base-port` flag, OCD_BASE_PORT, the ports in settings.json, 8787-8791; `PORT` still sets the API's alone.
 */
export function loadLocalSettings(paths: LocalPaths, overrides: StackOverrides = {}): LocalSettings {
  let stored: Omit<LocalSettings, 'host'>;
  if (existsSync(paths.settings)) {
    stored = JSON.parse(readFileSync(paths.settings, 'utf8')) as Omit<LocalSettings, 'host'>;
    stored.ports = { ...portsFrom(DEFAULT_BASE_PORT), ...stored.ports };
  } else {
    stored = { tenant: 'dev', apiKey: generateApiKey(), ports: portsFrom(DEFAULT_BASE_PORT) };
    mkdirSync(dirname(paths.settings), { recursive: true });
    writeFileSync(paths.settings, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
  const basePort = overrides.basePort ?? (process.env.OCD_BASE_PORT ? parsePort(process.env.OCD_BASE_PORT, 'OCD_BASE_PORT') : undefined);
  const settings: LocalSettings = { ...stored, host: overrides.host ?? process.env.OCD_HOST ?? LOOPBACK };
  if (basePort !== undefined) settings.ports = portsFrom(basePort);
  else if (process.env.PORT) settings.ports.api = parsePort(process.env.PORT, 'PORT');
  return settings;
}

/** A port number from a flag or variable, or an error naming it. */
export function parsePort(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535 - PORT_ORDER.length) {
    throw new Error(`${name} must be a port number from 1 to ${65535 - PORT_ORDER.length}, got '${value}'.`);
  }
  return port;
}

/** The base URL of a server listening on `host` as this machine reaches it. */
export function localUrl(settings: LocalSettings, port: number): string {
  return `http://${reachableHost(settings.host)}:${port}`;
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
    HOST: settings.host,
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
    OCD_HEALTH_HOST: settings.host,
  };
}
