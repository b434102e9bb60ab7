/**
 * A worker process with the fake engine, for the multi-process tests: the same `runWorkerProcess` as
 * gpu-runner/worker/main.ts, configured from the environment the same way. Its own flags (`--fake-step-ms`,
 * `--fake-steps`) come first; the rest are the worker's.
 */
import { loadWorkerConfig } from '../../../../shared/config.ts';
import { runWorkerProcess } from '../../../../gpu-runner/worker/worker-process.ts';
import { createFakeEngine } from './fake-engine.ts';

// `--fake-x value` pairs are ours; everything else goes to the worker's strict flag parser.
const values: Record<string, string> = {};
const workerArgs: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--fake-')) values[argv[i].slice(2)] = argv[++i];
  else workerArgs.push(argv[i]);
}
const code = await runWorkerProcess({
  argv: workerArgs,
  config: loadWorkerConfig(),
  loadEngine: async () =>
    createFakeEngine({
      stepMs: Number(values['fake-step-ms'] ?? 100),
      ...(values['fake-steps'] ? { steps: Number(values['fake-steps']) } : {}),
    }),
});
process.stdout.write('', () => process.exit(code));
