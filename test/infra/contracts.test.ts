/**
 * The stack and the code it runs must agree: every variable the stack sets is one shared/config.ts reads, the
 * values it sets load, and the generated webhook secret has a form Standard Webhooks accepts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig, loadWorkerConfig } from '../../shared/config.ts';
import { REPO_ROOT, synthOcdStack } from './support/synth.ts';

type Env = Record<string, unknown>;
let apiEnv: Env;
let workerEnv: Env;
let webhookSecretSpec: { PasswordLength: number; ExcludePunctuation: boolean; IncludeSpace: boolean };

/** Tokens (Ref, GetAtt, Join) become plausible literal values, as CloudFormation would resolve them. */
function resolveForTest(env: Env): Record<string, string> {
  const plausible: Record<string, string> = {
    OCD_BUCKET: 'ocdvideoedit-mediabucket-abc123',
    OCD_TABLE: 'OcdVideoEdit-JobsTable-XYZ',
    OCD_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/OcdVideoEdit-JobQueue-XYZ',
    OCD_API_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ApiKeys-abc',
    OCD_MODEL_URI: 's3://ocdvideoedit-mediabucket-abc123/models/',
  };
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => {
      if (typeof value === 'string') return [name, value];
      expect(plausible[name], `a test value for the token in ${name}`).toBeDefined();
      return [name, plausible[name]];
    }),
  );
}

beforeAll(() => {
  const { template } = synthOcdStack();
  const functions = Object.values(template.findResources('AWS::Lambda::Function')) as { Properties: { Runtime: string; Environment: { Variables: Env } } }[];
  apiEnv = functions.find((f) => f.Properties.Runtime === 'nodejs22.x')!.Properties.Environment.Variables;
  const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition')) as {
    Properties: { ContainerDefinitions: { Environment: { Name: string; Value: unknown }[]; Secrets: { Name: string }[] }[] };
  }[];
  const container = taskDefinition.Properties.ContainerDefinitions[0];
  workerEnv = Object.fromEntries(container.Environment.map(({ Name, Value }) => [Name, Value]));
  for (const { Name } of container.Secrets) workerEnv[Name] = 'from-secrets-manager';
  const [secret] = Object.values(template.findResources('AWS::SecretsManager::Secret')).filter(
    (s) => (s as { Properties: { GenerateSecretString?: unknown } }).Properties.GenerateSecretString,
  ) as { Properties: { GenerateSecretString: typeof webhookSecretSpec } }[];
  webhookSecretSpec = secret.Properties.GenerateSecretString;
});

describe('environment contract with shared/config.ts', () => {
  const configSource = readFileSync(join(REPO_ROOT, 'shared/config.ts'), 'utf8');

  it('sets only OCD_* variables that shared/config.ts reads (NODE_OPTIONS aside)', () => {
    for (const name of [...Object.keys(apiEnv), ...Object.keys(workerEnv)]) {
      if (name === 'NODE_OPTIONS') continue;
      expect(configSource, `${name} is not read by shared/config.ts`).toMatch(new RegExp(`\\b${name}:`));
    }
  });

  it('gives the API function a configuration loadApiConfig accepts', () => {
    const config = loadApiConfig(resolveForTest(apiEnv));
    expect(config.auth.secretArn).toMatch(/^arn:aws:secretsmanager:/);
    expect(config.maxUploadBytes).toBe(200 * 1024 * 1024);
    expect(config.jobTtlDays).toBe(7);
    // In AWS the SDK's own credential chain applies: no endpoints, no static keys.
    expect(config.aws).toEqual({ region: 'us-east-1', endpoints: { s3: undefined, sqs: undefined, dynamodb: undefined } });
  });

  it('gives the runner a configuration loadWorkerConfig accepts: CUDA, the S3 model, the grace period', () => {
    const config = loadWorkerConfig(resolveForTest(workerEnv));
    expect(config).toMatchObject({
      provider: 'cuda',
      modelUri: 's3://ocdvideoedit-mediabucket-abc123/models/',
      modelCacheDir: '/var/cache/ocd-model',
      graceSeconds: 100,
      healthPort: 8080,
      jobDeadlineSeconds: 1800,
      webhookSecret: 'from-secrets-manager',
    });
    expect(config.modelDir).toBeUndefined();
  });
});

describe('webhook signing secret', () => {
  it('is generated in a form standardwebhooks accepts (base64 of random bytes, alphanumeric only)', () => {
    expect(webhookSecretSpec).toEqual({ PasswordLength: 44, ExcludePunctuation: true, IncludeSpace: false });
    // A value of that form: 44 characters from [A-Za-z0-9].
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const secret = Array.from({ length: webhookSecretSpec.PasswordLength }, (_, i) => alphabet[(i * 7 + 3) % alphabet.length]).join('');
    const signer = new Webhook(secret);
    const timestamp = new Date();
    const body = JSON.stringify({ type: 'edit.succeeded' });
    const signature = signer.sign('msg_1', timestamp, body);
    // A receiver given `whsec_` + the value verifies it.
    const receiver = new Webhook(`whsec_${secret}`);
    expect(receiver.verify(body, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature })).toEqual({
      type: 'edit.succeeded',
    });
  });
});
