/** `npm run start:worker [-- --health-port N]`: one more CPU worker against running emulators. */
import { stackFlags } from './local/flags.ts';
import { localModelDir } from './local/model.ts';
import { spawnEntry } from './local/processes.ts';
import { loadLocalSettings, localPaths, readEmulatorEnv, workerEnv } from './local/settings.ts';

const { overrides, values } = stackFlags('npm run start:worker --', process.argv.slice(2), {
  options: { 'health-port': { type: 'string' } },
  help: '  --health-port N  this worker\'s health port (default: a free one)',
});
const paths = localPaths();
const settings = loadLocalSettings(paths, overrides);
const env = workerEnv(settings, await readEmulatorEnv(paths), paths, localModelDir(), Number(values['health-port'] ?? 0));
const worker = spawnEntry('worker', 'gpu-runner/worker/main.ts', env);
worker.once('exit', (code) => process.exit(code ?? 1));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.kill('SIGTERM'));
