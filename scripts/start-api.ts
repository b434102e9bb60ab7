/** `npm run start:api`: the API (and the playground) against running emulators. */
import { spawnEntry } from './local/processes.ts';
import { stackFlags } from './local/flags.ts';
import { apiEnv, loadLocalSettings, localPaths, readEmulatorEnv } from './local/settings.ts';

const { overrides } = stackFlags('npm run start:api --', process.argv.slice(2));
const paths = localPaths();
const settings = loadLocalSettings(paths, overrides);
const api = spawnEntry('api', 'functions/server.ts', apiEnv(settings, await readEmulatorEnv(paths)));
api.once('exit', (code) => process.exit(code ?? 1));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => api.kill('SIGTERM'));
