/** `npm run start:emulator`: the S3, SQS and DynamoDB emulators alone, on the local stack's ports. */
import { startLocalEmulators } from './local/emulator-process.ts';
import { loadLocalSettings, localPaths } from './local/settings.ts';

const paths = localPaths();
const settings = loadLocalSettings(paths);
const emulators = await startLocalEmulators(paths, settings);
console.log(`emulators ready (S3 :${settings.ports.s3}, SQS :${settings.ports.sqs}, DynamoDB :${settings.ports.dynamodb}); data in ${paths.root}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void emulators.stop().then(() => process.exit(0)));
}
