import { Match, type Template } from 'aws-cdk-lib/assertions';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE } from '../../gpu-runner/worker/job-metrics.ts';
import { MEDIA_PREFIXES } from '../../infra/lib/media-bucket.ts';
import { jobsTableDefinition } from '../../shared/job-store.ts';
import { jobOutputKey, uploadKey } from '../../shared/s3-keys.ts';
import { API_ENTRY, synthOcdStack, type SynthResult } from './support/synth.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Sid?: string };

// GIVEN the stack with its defaults (synthesized once: bundling and asset staging take seconds)
let synth: SynthResult;
let template: Template;
beforeAll(() => {
  synth = synthOcdStack();
  template = synth.template;
});

const resourcesOf = (type: string): Record<string, Resource> => template.findResources(type) as Record<string, Resource>;
const only = (type: string): [string, Resource] => {
  const entries = Object.entries(resourcesOf(type));
  expect(entries, `exactly one ${type}`).toHaveLength(1);
  return entries[0];
};
const actionsOf = (statement: Statement): string[] => [statement.Action].flat();
const allStatements = (): Statement[] =>
  Object.values(resourcesOf('AWS::IAM::Policy')).flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);

describe('media bucket', () => {
  it('is encrypted, blocks all public access and denies non-TLS requests', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('uses the key prefixes of shared/s3-keys.ts', () => {
    expect(uploadKey('acme', 'u1').startsWith(MEDIA_PREFIXES.uploads)).toBe(true);
    expect(jobOutputKey('j1', 'video').startsWith(MEDIA_PREFIXES.jobs)).toBe(true);
  });

  it('expires uploads after 1 day, job artifacts after the retention, and aborts incomplete multipart uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'jobs/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('allows browser uploads through CORS (POST and PUT)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedMethods: Match.arrayWith(['POST', 'PUT', 'GET']) })] },
    });
  });
});

describe('jobs table', () => {
  it('is laid out exactly as shared/job-store.ts defines it (keys, both indexes, projections)', () => {
    const definition = jobsTableDefinition('unused');
    const [, table] = only('AWS::DynamoDB::Table');
    const byName = <T extends { AttributeName?: string; IndexName?: string }>(items: T[] = []) =>
      [...items].sort((a, b) => String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)));
    expect(table.Properties.KeySchema).toEqual(definition.KeySchema);
    expect(byName(table.Properties.AttributeDefinitions as { AttributeName: string }[])).toEqual(byName(definition.AttributeDefinitions));
    expect(byName(table.Properties.GlobalSecondaryIndexes as { IndexName: string }[])).toEqual(byName(definition.GlobalSecondaryIndexes));
    expect(definition.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
  });

  it('has the byTenant index, TTL on expiresAt, recovery, encryption and deletion protection, billed on demand', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: Match.arrayWith([
        Match.objectLike({
          IndexName: 'byTenant',
          KeySchema: [
            { AttributeName: 'tenant', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
        }),
      ]),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
    });
  });
});

describe('queue', () => {
  it('redrives to the dead-letter queue after 3 receives; the DLQ keeps messages 14 days', () => {
    const queues = resourcesOf('AWS::SQS::Queue');
    const [dlqId] = Object.entries(queues).find(([, q]) => q.Properties.RedrivePolicy === undefined)!;
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 3 },
      VisibilityTimeout: 120,
      SqsManagedSseEnabled: true,
    });
    expect(queues[dlqId].Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
  });

  it('denies non-TLS access to both queues', () => {
    const policies = Object.values(resourcesOf('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });
});

describe('API function', () => {
  it('runs Node.js 22 on arm64 with reserved concurrency and the service configuration', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 20,
      Environment: {
        Variables: Match.objectLike({
          OCD_BUCKET: Match.anyValue(),
          OCD_TABLE: Match.anyValue(),
          OCD_QUEUE_URL: Match.anyValue(),
          OCD_REGION: 'us-east-1',
          OCD_API_KEYS_SECRET_ARN: Match.anyValue(),
          OCD_MAX_UPLOAD_BYTES: String(200 * 1024 * 1024),
        }),
      },
    });
  });

  it('has no ControlNet by default, so ControlVideo requests are refused at create time', () => {
    const [, fn] = Object.entries(resourcesOf('AWS::Lambda::Function')).find(([, f]) => f.Properties.Runtime === 'nodejs22.x')!;
    expect(Object.keys((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables)).not.toContain('OCD_CONTROLNET_URI');
    expect(JSON.stringify(resourcesOf('AWS::ECS::TaskDefinition'))).not.toContain('OCD_CONTROLNET_URI');
  });

  it('is bundled locally by esbuild into an ESM file that exports the handler', () => {
    const [, fn] = Object.entries(resourcesOf('AWS::Lambda::Function')).find(([, f]) => f.Properties.Runtime === 'nodejs22.x')!;
    // The code object is named after the asset hash, and the staged bundle sits in asset.<hash>/.
    const s3Key = (fn.Properties.Code as { S3Key: string }).S3Key;
    const bundle = join(synth.outdir, `asset.${s3Key.replace(/\.zip$/, '')}`, 'index.mjs');
    expect(existsSync(bundle), bundle).toBe(true);
    expect(readFileSync(bundle, 'utf8')).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
  });

  it.runIf(API_ENTRY === 'functions/lambda.ts')('answers a function-URL event for GET /healthz from the bundle', async () => {
    const [, fn] = Object.entries(resourcesOf('AWS::Lambda::Function')).find(([, f]) => f.Properties.Runtime === 'nodejs22.x')!;
    const s3Key = (fn.Properties.Code as { S3Key: string }).S3Key;
    const bundle = join(synth.outdir, `asset.${s3Key.replace(/\.zip$/, '')}`, 'index.mjs');
    // A plain Node process loads the bundle as Lambda would, with the variables the stack sets (config is read at cold start).
    const probe = `
      const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
      const event = (method, path) => ({ version: '2.0', rawPath: path, rawQueryString: '', headers: { host: 'abc.lambda-url.us-east-1.on.aws' },
        requestContext: { http: { method, path, sourceIp: '192.0.2.1' }, domainName: 'abc.lambda-url.us-east-1.on.aws', requestId: 'test' }, isBase64Encoded: false });
      const health = await handler(event('GET', '/healthz'), {});
      const list = await handler(event('GET', '/v1/edits'), {});
      process.stdout.write('RESULT ' + JSON.stringify([health.statusCode, health.body, list.statusCode]) + '\\n');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], {
      env: {
        PATH: process.env.PATH,
        OCD_BUCKET: 'media-bucket',
        OCD_TABLE: 'jobs-table',
        OCD_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
        OCD_REGION: 'us-east-1',
        OCD_API_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:keys',
      },
    });
    const [healthStatus, healthBody, listStatus] = JSON.parse(/^RESULT (.*)$/m.exec(stdout)![1]) as [number, string, number];
    expect([healthStatus, JSON.parse(healthBody)]).toEqual([200, { status: 'ok' }]);
    // Without a key the API refuses (before any AWS call).
    expect(listStatus).toBe(401);
  });

  it('is served by a function URL', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', TargetFunctionArn: Match.anyValue() });
  });
});

describe('GPU workers', () => {
  it('use an Auto Scaling group of g5.xlarge on the ECS GPU-optimized AL2023 AMI with minimum 0', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '0', MaxSize: '4' });
    const [, launchTemplate] = only('AWS::EC2::LaunchTemplate');
    expect(launchTemplate.Properties.LaunchTemplateData).toMatchObject({ InstanceType: 'g5.xlarge', MetadataOptions: { HttpTokens: 'required' } });
    const imageParameter = (launchTemplate.Properties.LaunchTemplateData as { ImageId: { Ref: string } }).ImageId.Ref;
    expect(template.toJSON().Parameters[imageParameter].Default).toBe('/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id');
  });

  it('are an ECS capacity provider with managed scaling and managed termination protection', () => {
    template.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: { ManagedScaling: { Status: 'ENABLED' }, ManagedTerminationProtection: 'ENABLED' },
    });
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 0,
      CapacityProviderStrategy: [Match.objectLike({ CapacityProvider: Match.anyValue() })],
    });
    // Created only after the capacity provider is associated with the cluster.
    const [associationId] = only('AWS::ECS::ClusterCapacityProviderAssociations');
    const [, service] = only('AWS::ECS::Service');
    expect((service as unknown as { DependsOn: string[] }).DependsOn).toContain(associationId);
  });

  it('run tasks with exactly one GPU, the model cache volume, a health check and a stop timeout above the grace period', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          ResourceRequirements: [{ Type: 'GPU', Value: '1' }],
          StopTimeout: 120,
          HealthCheck: Match.objectLike({ Command: ['CMD-SHELL', Match.stringLikeRegexp('/healthz')] }),
          MountPoints: [{ ContainerPath: '/var/cache/ocd-model', SourceVolume: 'model-cache', ReadOnly: false }],
          Secrets: [Match.objectLike({ Name: 'OCD_WEBHOOK_SECRET' })],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
      Volumes: [{ Name: 'model-cache', Host: { SourcePath: '/var/cache/ocd-model' } }],
    });
    const [, taskDefinition] = only('AWS::ECS::TaskDefinition');
    const [container] = taskDefinition.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[];
    const environment = Object.fromEntries(container.Environment.map(({ Name, Value }) => [Name, Value]));
    expect(environment).toMatchObject({
      OCD_PROVIDER: 'cuda',
      OCD_GRACE_SECONDS: '100',
      OCD_MODEL_CACHE_DIR: '/var/cache/ocd-model',
      OCD_HEALTH_PORT: '8080',
      OCD_JOB_DEADLINE_SECONDS: '1800',
      OCD_REGION: 'us-east-1',
    });
    expect(Object.keys(environment)).toEqual(expect.arrayContaining(['OCD_BUCKET', 'OCD_TABLE', 'OCD_QUEUE_URL', 'OCD_MODEL_URI']));
    // The default model location is the models/ prefix of the stack's own bucket.
    expect(JSON.stringify(environment.OCD_MODEL_URI)).toMatch(/"s3:\/\/".*MediaBucket.*"\/models\/"/);
  });

  it('build their image from gpu-runner/Dockerfile, staged (hashed, never built) at synth with only the files it needs', () => {
    const manifest = JSON.parse(readFileSync(join(synth.outdir, 'OcdTest.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform?: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0].source).toMatchObject({ dockerFile: 'gpu-runner/Dockerfile', platform: 'linux/amd64' });
    const staged = readdirSync(join(synth.outdir, images[0].source.directory)).sort();
    expect(staged).toEqual(['.dockerignore', '.npmrc', 'gpu-runner', 'package-lock.json', 'package.json', 'shared', 'tsconfig.json']);
  });

  it('run in public subnets of a VPC without NAT gateways, with S3 and DynamoDB gateway endpoints', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({}) });
    template.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'us-east-1a', MapPublicIpOnLaunch: true });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { SecurityGroupIngress: Match.absent() });
  });
});

describe('queue-driven scaling', () => {
  it('scales the service between 0 and the maximum', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: 4,
      ScalableDimension: 'ecs:service:DesiredCount',
      ServiceNamespace: 'ecs',
      RoleARN: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('AWSServiceRoleForApplicationAutoScaling_ECSService')])] }),
    });
  });

  it('tracks the backlog per running task with metric math over visible and in-flight messages and running tasks', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 1,
        CustomizedMetricSpecification: {
          Metrics: Match.arrayWith([
            Match.objectLike({ Id: 'visible', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesVisible' }) }) }),
            Match.objectLike({ Id: 'inflight', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesNotVisible' }) }) }),
            Match.objectLike({ Id: 'running', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'RunningTaskCount' }) }) }),
            Match.objectLike({ ReturnData: true, Expression: Match.stringLikeRegexp('\\(visible \\+ inflight\\) / tasks') }),
          ]),
        },
      }),
    });
  });

  it('wakes the service from 0 to 1 with a step policy when jobs wait and no task is wanted', () => {
    const [policyId] = Object.entries(resourcesOf('AWS::ApplicationAutoScaling::ScalingPolicy')).find(([, p]) => p.Properties.PolicyType === 'StepScaling')!;
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: Match.objectLike({ AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] }),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: policyId }],
      Metrics: Match.arrayWith([Match.objectLike({ Expression: Match.stringLikeRegexp('FILL\\(desired, 0\\) == 0') })]),
    });
  });

  it('has no CPU-based scaling policy', () => {
    const policies = Object.values(resourcesOf('AWS::ApplicationAutoScaling::ScalingPolicy'));
    expect(policies).toHaveLength(2);
    expect(JSON.stringify(policies)).not.toMatch(/CPUUtilization/);
  });
});

describe('IAM', () => {
  const dataActionPrefixes = ['s3:', 'dynamodb:', 'sqs:', 'secretsmanager:'];

  it('never grants a data action on a * resource', () => {
    for (const statement of allStatements()) {
      const dataActions = actionsOf(statement).filter((a) => dataActionPrefixes.some((p) => a.startsWith(p)));
      if (dataActions.length === 0) continue;
      expect([statement.Resource].flat(), `${dataActions.join(',')} on *`).not.toContain('*');
      expect(dataActions.filter((a) => a.endsWith(':*')), 'service-wide wildcard action').toEqual([]);
    }
  });

  it('lets the API put only under uploads/, and the runner only under jobs/', () => {
    const [, fn] = Object.entries(resourcesOf('AWS::Lambda::Function')).find(([, f]) => f.Properties.Runtime === 'nodejs22.x')!;
    const apiRoleId = (fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    const statementsOf = (isRole: (roleId: string) => boolean) =>
      Object.values(resourcesOf('AWS::IAM::Policy'))
        .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => isRole(role.Ref)))
        .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    const putTargets = (statements: Statement[]) =>
      statements.filter((s) => actionsOf(s).includes('s3:PutObject')).map((s) => JSON.stringify(s.Resource));
    expect(putTargets(statementsOf((id) => id === apiRoleId))).toEqual([expect.stringMatching(/"\/uploads\/\*"/)]);
    expect(putTargets(statementsOf((id) => id.startsWith('WorkersTaskDefinitionTaskRole')))).toEqual([expect.stringMatching(/"\/jobs\/\*"/)]);
    // Every read is under a prefix: uploads/, jobs/ or the model folder.
    for (const statement of allStatements().filter((s) => actionsOf(s).includes('s3:GetObject'))) {
      expect(JSON.stringify(statement.Resource)).toMatch(/\/(uploads|jobs|models)\/\*/);
    }
  });

  it('lets the runner read the dead-letter queue but never delete from it', () => {
    const queues = resourcesOf('AWS::SQS::Queue');
    const [dlqId] = Object.entries(queues).find(([, q]) => q.Properties.RedrivePolicy === undefined)!;
    const onDlq = allStatements().filter((s) => JSON.stringify(s.Resource).includes(`"${dlqId}"`));
    expect(onDlq.map((s) => s.Sid)).toEqual(['SweepDeadLetters']);
    expect(actionsOf(onDlq[0]).sort()).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage']);
  });

  it('lets the runner send to the job queue and query the queue index: the sweep for messages a dead create owed', () => {
    const runner = allStatements().filter((s) => s.Sid === 'SweepUnsentJobs');
    expect(runner).toHaveLength(1);
    expect(actionsOf(runner[0]).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:Query']);
    expect(JSON.stringify(runner[0].Resource)).toContain('/index/byQueue');
    expect(JSON.stringify(runner[0].Resource)).not.toContain('/index/byTenant');
    const senders = allStatements().filter((s) => actionsOf(s).includes('sqs:SendMessage'));
    expect(senders.length).toBe(2); // the API and the runner
  });

  it('scopes table actions to the jobs table and its indexes, and queue actions to the job queues', () => {
    const [tableId] = only('AWS::DynamoDB::Table');
    for (const statement of allStatements()) {
      if (actionsOf(statement).some((a) => a.startsWith('dynamodb:'))) expect(JSON.stringify(statement.Resource)).toContain(tableId);
      if (actionsOf(statement).some((a) => a.startsWith('sqs:'))) expect(JSON.stringify(statement.Resource)).toMatch(/JobQueue\w+/);
    }
  });
});

describe('alarms and outputs', () => {
  it('alarm on a non-empty dead-letter queue, the age of the oldest job and the worker error rate', () => {
    const queues = resourcesOf('AWS::SQS::Queue');
    const [dlqId] = Object.entries(queues).find(([, q]) => q.Properties.RedrivePolicy === undefined)!;
    const dlqMetric = (name: string) =>
      Match.objectLike({ MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/SQS', MetricName: name, Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }] } }) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([dlqMetric('ApproximateNumberOfMessagesVisible'), dlqMetric('ApproximateNumberOfMessagesNotVisible')]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 1800 });
    // The error rate reads the runner's Embedded Metric Format records: metric Jobs by Outcome, in its namespace.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0.5,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(ended >= 3, errors / ended, 0)', ReturnData: true }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: { Namespace: METRICS_NAMESPACE, MetricName: 'Jobs', Dimensions: [{ Name: 'Outcome', Value: 'failed' }] },
          }),
        }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: { Namespace: METRICS_NAMESPACE, MetricName: 'Jobs', Dimensions: [{ Name: 'Outcome', Value: 'succeeded' }] },
          }),
        }),
      ]),
    });
  });

  it('output the API URL, the bucket name and the queue URL', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'BucketName', 'QueueUrl', 'ApiKeysSecretArn', 'ModelUri']));
  });
});
