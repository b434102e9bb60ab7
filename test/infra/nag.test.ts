import { Match, Template } from 'aws-cdk-lib/assertions';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { cdkJsonContext, REPO_ROOT } from './support/synth.ts';

interface PluginReport {
  pluginName: string;
  conclusion: string;
  violations: { ruleName: string }[];
  suppressedViolations?: { ruleName: string; acknowledgedId: string; reason: string; violatingConstructs: { constructPath: string }[] }[];
}

// GIVEN the CDK app itself (infra/bin/app.ts, as `cdk synth` runs it: cdk.json's context plus -c overrides in
// CDK_CONTEXT_JSON, no AWS credentials), bound to an account, with the model in another bucket and non-default
// sizes (stack.test.ts covers the defaults): acknowledgments must follow the resources they name.
let outdir: string;
let synth: { template: Template };
let reports: PluginReport[];
beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'ocd-app-'));
  const context = {
    ...cdkJsonContext(),
    'ocd:account': '123456789012',
    'ocd:modelUri': 's3://team-models/stable-diffusion-v1-5/',
    'ocd:controlnetUri': 's3://team-models/sd-controlnet-canny/',
    'ocd:instanceType': 'g6.xlarge',
    'ocd:maxWorkers': '2',
    'ocd:artifactRetentionDays': '30',
  };
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'CDK_DEFAULT_ACCOUNT']) delete env[name];
  await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'infra/bin/app.ts')], { cwd: REPO_ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  synth = { template: Template.fromJSON(JSON.parse(readFileSync(join(outdir, 'OcdVideoEdit.template.json'), 'utf8'))) };
  reports = (JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: PluginReport[] }).pluginReports;
});

describe('cdk-nag AwsSolutions and the bundled CloudFormation validator', () => {
  it('both ran and found nothing unacknowledged', () => {
    expect(reports.map((r) => r.pluginName).sort()).toEqual(['AwsSolutions', 'CloudFormation Validate']);
    for (const report of reports) {
      expect(report.violations.map((v) => v.ruleName), report.pluginName).toEqual([]);
      expect(report.conclusion).toBe('success');
    }
  });

  it('acknowledges each finding with a written reason', () => {
    const acknowledged = reports.flatMap((r) => r.suppressedViolations ?? []);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const finding of acknowledged) {
      expect(finding.reason.length, `${finding.acknowledgedId} needs a reason`).toBeGreaterThanOrEqual(40);
    }
  });

  it('acknowledges wildcards only for object prefixes and task ids, never a bare data wildcard', () => {
    const wildcardIds = reports
      .flatMap((r) => r.suppressedViolations ?? [])
      .map((f) => f.acknowledgedId)
      .filter((id) => id.includes('IAM5[Resource::'));
    expect(wildcardIds).toContain('AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::team-models/stable-diffusion-v1-5/*]');
    for (const id of wildcardIds) {
      expect(id).toMatch(/\/(uploads|jobs|stable-diffusion-v1-5|sd-controlnet-canny)\/\*\]$|:task\/<\w+>\/\*\]$|IAM5\[Resource::\*\]$/);
    }
    // The only Resource::* acknowledgments are the ECS agent's and ECR's, on the instance and execution roles.
    const bare = reports
      .flatMap((r) => r.suppressedViolations ?? [])
      .filter((f) => f.acknowledgedId.endsWith('IAM5[Resource::*]'))
      .flatMap((f) => f.violatingConstructs.map((c) => c.constructPath));
    expect(bare.every((path) => /InstanceRole|ExecutionRole/.test(path)), bare.join(', ')).toBe(true);
  });
});

describe('the stack with non-default parameters', () => {
  it('points the runners at the given model and grants them read access to exactly that prefix', () => {
    const { template } = synth;
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'OCD_MODEL_URI', Value: 's3://team-models/stable-diffusion-v1-5/' }]) })],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'ReadModel', Action: 's3:GetObject', Resource: 'arn:aws:s3:::team-models/stable-diffusion-v1-5/*' }),
          Match.objectLike({
            Sid: 'ListModel',
            Action: 's3:ListBucket',
            Resource: 'arn:aws:s3:::team-models',
            Condition: { StringLike: { 's3:prefix': ['stable-diffusion-v1-5/*'] } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ InstanceType: 'g6.xlarge' }) });
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '0', MaxSize: '2' });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 0, MaxCapacity: 2 });
  });

  it('gives the runners and the API the ControlNet folder, and the runners read access to exactly that prefix', () => {
    const { template } = synth;
    const uri = 's3://team-models/sd-controlnet-canny/';
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'OCD_CONTROLNET_URI', Value: uri }]) })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs22.x', Environment: { Variables: Match.objectLike({ OCD_CONTROLNET_URI: uri }) } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'ReadControlNet', Action: 's3:GetObject', Resource: 'arn:aws:s3:::team-models/sd-controlnet-canny/*' }),
          Match.objectLike({ Sid: 'ListControlNet', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::team-models', Condition: { StringLike: { 's3:prefix': ['sd-controlnet-canny/*'] } } }),
        ]),
      },
    });
    template.hasOutput('ControlNetUri', { Value: uri });
  });

  it('keeps job artifacts and job records for the configured retention', () => {
    const { template } = synth;
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'jobs/', ExpirationInDays: 30 })]) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Environment: { Variables: Match.objectLike({ OCD_JOB_TTL_DAYS: '30' }) },
    });
  });
});
