/** Starts the loopback emulators on the configured ports with data under the data folder, and publishes their env. */
import { mkdirSync, rmSync } from 'node:fs';
import { startEmulators, type Emulators } from '../../local/emulators.ts';
import { requeueUnfinishedJobs } from './requeue.ts';
import { writeEmulatorEnv, type LocalPaths, type LocalSettings } from './settings.ts';

export async function startLocalEmulators(paths: LocalPaths, settings: LocalSettings): Promise<Emulators> {
  mkdirSync(paths.s3, { recursive: true });
  mkdirSync(paths.dynamodb, { recursive: true });
  const emulators = await startEmulators({
    host: settings.host,
    ports: { s3: settings.ports.s3, sqs: settings.ports.sqs, dynamodb: settings.ports.dynamodb },
    dataDir: paths.s3,
    dynamodbDir: paths.dynamodb,
  });
  const requeued = await requeueUnfinishedJobs(emulators.resources);
  if (requeued > 0) console.log(`requeued ${requeued} unfinished job(s) from the last run`);
  writeEmulatorEnv(paths, emulators.env);
  return {
    ...emulators,
    stop: async () => {
      rmSync(paths.emulatorEnv, { force: true });
      await emulators.stop();
    },
  };
}
