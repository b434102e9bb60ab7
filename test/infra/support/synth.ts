/**
 * Synthesizes the stack the way the CDK app does (cdk.json's context, cdk-nag's AwsSolutions checks), into a
 * temporary folder. Infra test files call it once, in beforeAll.
 */
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcdStack, type OcdStackProps } from '../../../infra/lib/ocd-stack.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURE_API_ENTRY = 'test/infra/fixtures/lambda-handler.ts';
/** The real API entry once it exists; the fixture stands in before that. */
export const API_ENTRY = existsSync(join(REPO_ROOT, 'functions/lambda.ts')) ? 'functions/lambda.ts' : FIXTURE_API_ENTRY;

/** cdk.json's context: feature flags, validator switch and the fixed zones. */
export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

export interface SynthResult {
  app: App;
  stack: OcdStack;
  template: Template;
  outdir: string;
}

/** Builds and synthesizes one OcdStack; throws (like `cdk synth`) on any unacknowledged nag or validator finding. */
export function synthOcdStack(props: Partial<OcdStackProps> = {}): SynthResult {
  const outdir = mkdtempSync(join(tmpdir(), 'ocd-infra-'));
  const app = new App({ context: cdkJsonContext(), outdir });
  const stack = new OcdStack(app, 'OcdTest', {
    env: { region: 'us-east-1' },
    repoRoot: REPO_ROOT,
    apiEntry: API_ENTRY,
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { app, stack, template: Template.fromStack(stack), outdir };
}
