/**
 * `npm start`: the whole service on this machine. S3, SQS and DynamoDB emulators on loopback (the same AWS SDK
 * code paths as in AWS), the API with the playground, and one CPU worker with the embedded toy model (or OCD_MODEL_DIR).
 * Data stays under .data/ across restarts. Ctrl-C stops everything.
 */
import { startLocalEmulators } from './local/emulator-process.ts';
import { localModelDir } from './local/model.ts';
import { requireSystemPrograms, spawnEntry, stopChild, waitForHealthy } from './local/processes.ts';
import { sampleClip } from './local/sample-clip.ts';
import { stackFlags } from './local/flags.ts';
import { apiEnv, loadLocalSettings, localPaths, localUrl, workerEnv } from './local/settings.ts';

const { overrides } = stackFlags('npm start --', process.argv.slice(2));
requireSystemPrograms();
const paths = localPaths();
const settings = loadLocalSettings(paths, overrides);
const modelDir = localModelDir();
const emulators = await startLocalEmulators(paths, settings);
const api = spawnEntry('api', 'functions/server.ts', apiEnv(settings, emulators.env));
const worker = spawnEntry('worker', 'gpu-runner/worker/main.ts', workerEnv(settings, emulators.env, paths, modelDir));

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all([stopChild(worker), stopChild(api)]);
    await emulators.stop();
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(0));
for (const [name, child] of [['api', api], ['worker', worker]] as const) {
  child.once('exit', (code) => {
    if (!stopping) {
      console.error(`${name} exited (code ${code}); stopping the local stack.`);
      void shutdown(1);
    }
  });
}

try {
  const base = localUrl(settings, settings.ports.api);
  await waitForHealthy('the API', `${base}/healthz`, api, 60_000);
  await waitForHealthy('the worker', `${localUrl(settings, settings.ports.workerHealth)}/healthz`, worker, 300_000);
  const clip = sampleClip();
  const request = JSON.stringify({ sourcePrompt: clip.sourcePrompt, targetPrompt: clip.targetPrompt, preset: 'ocd' });
  console.log(`
The service is running.
  Playground:  ${base}/#key=${settings.apiKey}
  API docs:    ${base}/docs
  API key:     ${settings.apiKey}   (tenant "${settings.tenant}", kept in ${paths.settings})

Try it (creates an edit in one call, then shows its state):
  curl -s ${base}/v1/edits -H 'Authorization: Bearer ${settings.apiKey}' \\
    -F 'request=${request}' -F 'video=@${clip.path};type=video/mp4'
  curl -s ${base}/v1/edits/<id> -H 'Authorization: Bearer ${settings.apiKey}'

Or with the client:  npx ocd submit '${clip.path}' --source '${clip.sourcePrompt}' --target '${clip.targetPrompt}' --api ${base} --key ${settings.apiKey} --wait --out-dir out
${controlVideoLine()}
Stop with Ctrl-C.`);
} catch (error) {
  console.error((error as Error).message);
  await shutdown(1);
}

/** Whether the ControlVideo editor is on: it needs a ControlNet folder, which only the user can supply. */
function controlVideoLine(): string {
  const dir = process.env.OCD_CONTROLNET_DIR;
  return dir
    ? `ControlVideo:  on, with the ControlNet in ${dir} (--editor controlvideo; README: ControlVideo)`
    : 'ControlVideo:  off (no ControlNet): restart with OCD_CONTROLNET_DIR=<diffusers ControlNet folder matching the model> (README: ControlVideo)';
}
