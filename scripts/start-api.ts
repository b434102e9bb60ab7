/** `npm run start:api`: the API (and the playground) against running emulators. */
import { spawnEntry } from './local/processes.ts';
import { apiEnv, loadLocalSettings, localPaths, readEmulatorEnv } from './local/settings.ts';

const paths = localPaths();
const settings = loadLocalSettings(paths);
const api = spawnEntry('api', 'functions/server.ts', apiEnv(settings, await readEmulatorEnv(paths)));
api.once('exit', (code) => process.exit(code ?? 1));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => api.kill('SIGTERM'));
