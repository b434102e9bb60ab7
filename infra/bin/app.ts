/**
 * The CDK app (cdk.json runs it with tsx): one OcdStack, parameters from context, cdk-nag's AwsSolutions checks on
 * every synth (an unacknowledged finding fails it).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcdStack } from '../lib/ocd-stack.ts';
import { settingsFromContext, type OcdSettings } from '../lib/settings.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const app = new App();
// CDK_DEFAULT_ACCOUNT is set by the CLI when it has credentials; without them the stack stays account-agnostic.
let settings: OcdSettings;
try {
  settings = settingsFromContext((key) => app.node.tryGetContext(key), process.env.CDK_DEFAULT_ACCOUNT);
} catch (error) {
  // A parameter mistake: the message says what and how to fix it; a stack trace would only bury it.
  console.error(`Invalid stack parameter: ${(error as Error).message}`);
  process.exit(1);
}

new OcdStack(app, settings.stackName, {
  env: { account: settings.account, region: settings.region },
  description: 'Text-guided video editing (FateZero + Object-Centric Diffusion) with GPU workers that scale from zero',
  repoRoot,
  availabilityZones: settings.availabilityZones,
  modelUri: settings.modelUri,
  controlnetUri: settings.controlnetUri,
  instanceType: settings.instanceType,
  maxWorkers: settings.maxWorkers,
  artifactRetentionDays: settings.artifactRetentionDays,
  apiReservedConcurrency: settings.apiReservedConcurrency,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
