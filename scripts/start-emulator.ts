/** `npm run start:emulator`: the S3, SQS and DynamoDB emulators alone, on the local stack's ports. */
import { startLocalEmulators } from './local/emulator-process.ts';
import { stackFlags } from './local/flags.ts';
import { loadLocalSettings, localPaths } from './local/settings.ts';

const { overrides } = stackFlags('npm run start:emulator --', process.argv.slice(2));
const paths = localPaths();
const settings = loadLocalSettings(paths, overrides);
const emulators = await startLocalEmulators(paths, settings);
console.log(`emulators ready on ${settings.host} (S3 :${settings.ports.s3}, SQS :${settings.ports.sqs}, DynamoDB :${settings.ports.dynamodb}); data in ${paths.root}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void emulators.stop().then(() => process.exit(0)));
}
