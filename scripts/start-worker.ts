/** `npm run start:worker [-- --health-port N]`: one more CPU worker against running emulators. */
import { parseArgs } from 'node:util';
import { localModelDir } from './local/model.ts';
import { spawnEntry } from './local/processes.ts';
import { loadLocalSettings, localPaths, readEmulatorEnv, workerEnv } from './local/settings.ts';

const { values } = parseArgs({ options: { 'health-port': { type: 'string' } } });
const paths = localPaths();
const settings = loadLocalSettings(paths);
const env = workerEnv(settings, await readEmulatorEnv(paths), paths, localModelDir(), Number(values['health-port'] ?? 0));
const worker = spawnEntry('worker', 'gpu-runner/worker/main.ts', env);
worker.once('exit', (code) => process.exit(code ?? 1));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.kill('SIGTERM'));
