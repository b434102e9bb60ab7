import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuWorkers } from '../../infra/lib/gpu-workers.ts';
import { JobQueue } from '../../infra/lib/job-queue.ts';
import { JobsTable } from '../../infra/lib/jobs-table.ts';
import { MediaBucket } from '../../infra/lib/media-bucket.ts';
import { acknowledgeNagRule, renderForNag } from '../../infra/lib/nag.ts';
import { EditApi } from '../../infra/lib/edit-api.ts';
import { QueueDepthScaling } from '../../infra/lib/queue-depth-scaling.ts';
import { parseS3Uri } from '../../infra/lib/s3-uri.ts';
import { DEFAULT_SETTINGS, settingsFromContext } from '../../infra/lib/settings.ts';
import { ServiceAlarms } from '../../infra/lib/service-alarms.ts';
import { cdkJsonContext, REPO_ROOT } from './support/synth.ts';

const fromContext = (context: Record<string, unknown>, account?: string) => settingsFromContext((key) => context[key], account);

describe('cdk.json', () => {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as Record<string, unknown> & { context: Record<string, unknown> };

  it('runs the app with tsx, with notices and version reporting off', () => {
    expect(cdkJson.app).toBe('npx tsx infra/bin/app.ts');
    expect(cdkJson.notices).toBe(false);
    expect(cdkJson.versionReporting).toBe(false);
  });

  it('turns validator findings into synth errors, emits launch templates and fixes the zones', () => {
    expect(cdkJson.context).toMatchObject({
      '@aws-cdk/core:validateAgainstDefaultRules': true,
      '@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig': true,
      'ocd:region': 'us-east-1',
      'ocd:availabilityZones': ['us-east-1a', 'us-east-1b'],
    });
  });
});

describe('settingsFromContext', () => {
  it('reads cdk.json: region us-east-1 with two fixed zones, and the documented defaults', () => {
    const settings = fromContext(cdkJsonContext());
    expect(settings).toEqual({
      account: undefined,
      region: 'us-east-1',
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      modelUri: undefined,
      controlnetUri: undefined,
      instanceType: 'g5.xlarge',
      maxWorkers: 4,
      artifactRetentionDays: 7,
      apiReservedConcurrency: 20,
      stackName: 'OcdVideoEdit',
    });
    expect(DEFAULT_SETTINGS.instanceType).toBe('g5.xlarge');
  });

  it('takes command-line strings (-c key=value): numbers, comma-separated zones, the account from the CLI', () => {
    const settings = fromContext(
      {
        'ocd:region': 'eu-west-1',
        'ocd:availabilityZones': 'eu-west-1b, eu-west-1c',
        'ocd:maxWorkers': '8',
        'ocd:artifactRetentionDays': '30',
        'ocd:instanceType': 'g6.2xlarge',
        'ocd:modelUri': 's3://my-models/sd15',
        'ocd:controlnetUri': 's3://my-models/controlnet-canny/',
      },
      '123456789012',
    );
    expect(settings).toMatchObject({
      account: '123456789012',
      region: 'eu-west-1',
      availabilityZones: ['eu-west-1b', 'eu-west-1c'],
      maxWorkers: 8,
      artifactRetentionDays: 30,
      instanceType: 'g6.2xlarge',
      modelUri: 's3://my-models/sd15',
      controlnetUri: 's3://my-models/controlnet-canny/',
    });
  });

  it.each([
    [{ 'ocd:region': 'eu-west-1', 'ocd:availabilityZones': ['us-east-1a'] }, /zones must be in region eu-west-1.*Fix: -c ocd:availabilityZones=eu-west-1a,eu-west-1b/],
    [{ 'ocd:instanceType': 'm5.large' }, /'m5.large' is not an NVIDIA GPU instance type.*Allowed families: g4dn, g5/],
    [{ 'ocd:instanceType': 'g4ad.xlarge' }, /'g4ad.xlarge' is not an NVIDIA GPU/],
    [{ 'ocd:maxWorkers': '0' }, /ocd:maxWorkers is "0"; it must be a whole number from 1 to 100/],
    [{ 'ocd:maxWorkers': 'many' }, /ocd:maxWorkers is "many"/],
    [{ 'ocd:artifactRetentionDays': 1.5 }, /ocd:artifactRetentionDays is 1.5/],
    [{ 'ocd:modelUri': 'https://example.com/model' }, /is not an S3 URI. Expected s3:\/\/<bucket>\/<prefix>\//],
    [{ 'ocd:controlnetUri': '/models/controlnet' }, /context ocd:controlnetUri '\/models\/controlnet' is not an S3 URI/],
    [{ 'ocd:region': 'Mars' }, /'Mars', which is not an AWS region name/],
    [{ 'ocd:account': '12345' }, /an AWS account id has 12 digits/],
  ])('fails when the context is %j', (context, message) => {
    expect(() => fromContext(context)).toThrow(message);
  });
});

describe('parseS3Uri', () => {
  it.each([
    ['s3://my-models/sd15/', { bucketName: 'my-models', prefix: 'sd15/' }],
    ['s3://my-models/sd15', { bucketName: 'my-models', prefix: 'sd15/' }],
    ['s3://my-models/a/b/c/', { bucketName: 'my-models', prefix: 'a/b/c/' }],
    ['s3://my-models', { bucketName: 'my-models', prefix: '' }],
  ])('parses %s', (uri, expected) => {
    expect(parseS3Uri(uri)).toEqual(expected);
  });

  it('fails when the bucket name breaks the S3 naming rules', () => {
    expect(() => parseS3Uri('s3://My_Models/x/')).toThrow(/names the bucket 'My_Models', which is not a valid S3 bucket name/);
  });
});

describe('acknowledgeNagRule', () => {
  it('fails on a malformed rule id or a reason nobody can check', () => {
    const stack = new Stack(new App(), 'Nag');
    expect(() => acknowledgeNagRule(stack, 'S1', 'a long enough reason for the test')).toThrow(/'S1' is not an AwsSolutions rule id/);
    expect(() => acknowledgeNagRule(stack, 'AwsSolutions-S1', 'because')).toThrow(/write a sentence a reviewer can check/);
    expect(() => acknowledgeNagRule(stack, 'AwsSolutions-IAM5[Resource::*]', 'a long enough reason for the test')).not.toThrow();
  });
});

describe('renderForNag', () => {
  it('renders references the way cdk-nag names them', () => {
    expect(renderForNag({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket1', 'Arn'] }, '/uploads/*']] })).toBe('<Bucket1.Arn>/uploads/*');
    expect(renderForNag({ 'Fn::Join': [':', ['arn', { Ref: 'AWS::Partition' }, 'ecs']] })).toBe('arn:<AWS::Partition>:ecs');
    expect(() => renderForNag({ 'Fn::Sub': 'x' })).toThrow(/cannot render/);
  });
});

describe('construct validation', () => {
  const bareStack = () => new Stack(new App(), 'Bare', { env: { region: 'us-east-1' } });

  it('fails when the runner grace period does not fit in the ECS stop timeout', () => {
    // GIVEN
    const stack = bareStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, maxAzs: 1, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PUBLIC }] });
    const media = new MediaBucket(stack, 'Media');
    const base = {
      vpc,
      bucket: media.bucket,
      table: new JobsTable(stack, 'Jobs').table,
      queue: new JobQueue(stack, 'Queue').queue,
      model: { bucket: media.bucket as s3.IBucket, prefix: 'models/' },
      imageDirectory: REPO_ROOT,
    };
    // WHEN / THEN
    expect(() => new GpuWorkers(stack, 'W1', { ...base, graceSeconds: 120, stopTimeoutSeconds: 120 })).toThrow(
      /graceSeconds is 120, but it must be .* below stopTimeoutSeconds \(120\).*Fix: lower graceSeconds/,
    );
    expect(() => new GpuWorkers(stack, 'W2', { ...base, stopTimeoutSeconds: 300 })).toThrow(/stopTimeoutSeconds is 300; ECS allows 2 to 120 seconds/);
    expect(() => new GpuWorkers(stack, 'W3', { ...base, instanceType: 't3.large' })).toThrow(/'t3.large' is not an NVIDIA GPU instance type/);
    expect(() => new GpuWorkers(stack, 'W4', { ...base, maxWorkers: 0 })).toThrow(/maxWorkers is 0/);
  });

  it('fails on out-of-range bucket, queue, scaling and alarm settings', () => {
    const stack = bareStack();
    expect(() => new MediaBucket(stack, 'M', { artifactRetentionDays: 0 })).toThrow(/artifactRetentionDays is 0; it must be a whole number of days, at least 1/);
    expect(() => new JobQueue(stack, 'Q', { maxReceiveCount: 0 })).toThrow(/maxReceiveCount is 0; SQS allows a whole number from 1 to 1000/);
    const queue = new JobQueue(stack, 'Q2');
    const apiProps = {
      bucket: new MediaBucket(stack, 'M2').bucket,
      table: new JobsTable(stack, 'T').table,
      queue: queue.queue,
      entry: 'unused.ts',
      projectRoot: REPO_ROOT,
      depsLockFilePath: 'unused.json',
    };
    expect(() => new EditApi(stack, 'Api', { ...apiProps, maxUploadBytes: 0 })).toThrow(/maxUploadBytes is 0; it must be a whole number of bytes from 1 to 5 GiB/);
    expect(
      () =>
        new ServiceAlarms(stack, 'A', {
          queue: queue.queue,
          deadLetterQueue: queue.deadLetterQueue,
          maxErrorRate: 5,
        }),
    ).toThrow(/maxErrorRate is 5; it is a fraction above 0 and at most 1/);
    expect(
      () => new QueueDepthScaling(stack, 'S', { cluster: undefined as never, service: undefined as never, queue: queue.queue, maxTasks: 2, backlogPerTaskTarget: 0 }),
    ).toThrow(/backlogPerTaskTarget is 0; it must be above 0/);
  });
});
