import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JOBS_TABLE } from '../../shared/job-store.ts';
import { MEDIA_PREFIXES } from './media-bucket.ts';
import { acknowledgeNagRule, acknowledgeWildcardResources } from './nag.ts';
import { checkGpuInstanceType } from './settings.ts';

/** Where the model folder is cached on the instance's local disk and inside the container (same path). */
export const MODEL_CACHE_DIR = '/var/cache/ocd-model';
/** The uid of the runner image's non-root user; the host cache folder is handed to it. gpu-runner/Dockerfile must match. */
export const WORKER_UID = 10001;
/** The DynamoDB operations the runner performs through shared/job-store.ts (read; claim, lease, progress, finish: conditional updates). */
export const WORKER_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;
/** The unsent-message sweep (shared/unsent-jobs.ts): find old notes in the queue index, drop them once settled. */
export const WORKER_UNSENT_SWEEP_ACTIONS = ['dynamodb:Query', 'dynamodb:DeleteItem'] as const;

export interface ModelLocation {
  readonly bucket: s3.IBucket;
  /** Key prefix of the diffusers folder, ending in `/`. */
  readonly prefix: string;
}

export interface GpuWorkersProps {
  readonly vpc: ec2.IVpc;
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITable;
  readonly queue: sqs.IQueue;
  /**
   * The job queue's dead-letter queue: an idle runner reads it (never deletes from it) to fail jobs whose message
   * died there, so no job stays `queued` or `running` forever.
   * @default - no access; such jobs stay as they are until their TTL
   */
  readonly deadLetterQueue?: sqs.IQueue;
  readonly model: ModelLocation;
  /**
   * The ControlVideo editor's ControlNet folder (OCD_CONTROLNET_URI), downloaded and cached like the model.
   * @default - none: ControlVideo jobs fail with `controlnet_missing` (the API refuses them first)
   */
  readonly controlnet?: ModelLocation;
  /** The folder sent to `docker build` (the repository root: the runner imports shared/). */
  readonly imageDirectory: string;
  /**
   * The Dockerfile, relative to `imageDirectory`.
   * @default 'gpu-runner/Dockerfile'
   */
  readonly dockerfile?: string;
  /**
   * EC2 instance type of the workers; one task (one GPU) runs per instance.
   * @default 'g5.xlarge'
   */
  readonly instanceType?: string;
  /**
   * The most GPU instances (and tasks) at once; the minimum is always 0.
   * @default 4
   */
  readonly maxWorkers?: number;
  /**
   * Seconds the runner may spend finishing its job after SIGTERM before handing it back (OCD_GRACE_SECONDS).
   * @default 100
   */
  readonly graceSeconds?: number;
  /**
   * Seconds ECS waits after SIGTERM before SIGKILL; must cover `graceSeconds`. ECS allows at most 120.
   * @default 120
   */
  readonly stopTimeoutSeconds?: number;
  /**
   * A job running longer than this fails with `timeout` (OCD_JOB_DEADLINE_SECONDS).
   * @default 1800
   */
  readonly jobDeadlineSeconds?: number;
  /**
   * Port of the runner's HTTP /healthz (OCD_HEALTH_PORT), used by the container health check.
   * @default 8080
   */
  readonly healthPort?: number;
  /**
   * Soft memory reservation of the container, MiB. A g5.xlarge registers about 15.3 GiB with ECS.
   * @default 12288
   */
  readonly memoryReservationMiB?: number;
  /**
   * Root EBS volume size, GiB: the GPU AMI, the runner image (CUDA libraries are several GB) and Docker's layers.
   * The model cache lives on the instance-store NVMe disk when the instance type has one.
   * @default 100
   */
  readonly rootVolumeGiB?: number;
  /**
   * Days the runner's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The GPU side: an ECS cluster whose only capacity is an Auto Scaling group of GPU instances (ECS GPU-optimized
 * Amazon Linux 2023 AMI, minimum 0) behind a capacity provider with managed scaling and managed termination
 * protection, and an ECS service of runner tasks with one GPU each. The service's desired count is driven by the
 * queue (see QueueDepthScaling); the capacity provider then adds or removes instances to fit the tasks.
 */
export class GpuWorkers extends Construct {
  readonly cluster: ecs.Cluster;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly capacityProvider: ecs.AsgCapacityProvider;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.Ec2Service;
  readonly logGroup: logs.LogGroup;
  readonly webhookSecret: secretsmanager.Secret;
  readonly maxWorkers: number;
  readonly instanceType: string;
  readonly graceSeconds: number;
  readonly stopTimeoutSeconds: number;
  /** The `s3://bucket/prefix/` the runners download the model from (OCD_MODEL_URI). */
  readonly modelUri: string;
  /** The `s3://bucket/prefix/` of the ControlNet folder (OCD_CONTROLNET_URI), when one is configured. */
  readonly controlnetUri?: string;

  constructor(scope: Construct, id: string, props: GpuWorkersProps) {
    super(scope, id);
    this.instanceType = props.instanceType ?? 'g5.xlarge';
    this.maxWorkers = props.maxWorkers ?? 4;
    this.graceSeconds = props.graceSeconds ?? 100;
    this.stopTimeoutSeconds = props.stopTimeoutSeconds ?? 120;
    const healthPort = props.healthPort ?? 8080;
    this.modelUri = `s3://${props.model.bucket.bucketName}/${props.model.prefix}`;
    this.controlnetUri = props.controlnet && `s3://${props.controlnet.bucket.bucketName}/${props.controlnet.prefix}`;
    validateWorkerProps(this.instanceType, this.maxWorkers, this.graceSeconds, this.stopTimeoutSeconds);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      // Container Insights publishes RunningTaskCount/DesiredTaskCount, which the queue scaling divides by.
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.autoScalingGroup = this.createInstances(props);
    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
      // AL2023 reads /etc/ecs/ecs.config like AL2; this makes CDK write ECS_CLUSTER there.
      machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
    });
    this.cluster.addAsgCapacityProvider(this.capacityProvider);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSigningSecret', {
      description: 'Standard Webhooks signing secret of the edit runner (base64; prefix it with whsec_ to share it with receivers).',
      generateSecretString: {
        // 44 characters from [A-Za-z0-9] are valid base64 for 33 random bytes, the form Standard Webhooks expects.
        passwordLength: 44,
        excludePunctuation: true,
        includeSpace: false,
      },
    });
    acknowledgeNagRule(
      this.webhookSecret,
      'AwsSolutions-SMG4',
      'Webhook receivers verify signatures with this secret; rotating it silently would break every receiver, so it is rotated by hand (docs/deploy.md).',
    );

    this.taskDefinition = new ecs.Ec2TaskDefinition(this, 'TaskDefinition', {
      // Bridge mode: the task uses the instance's public address for egress (awsvpc tasks on EC2 get no public IP).
      networkMode: ecs.NetworkMode.BRIDGE,
      volumes: [{ name: 'model-cache', host: { sourcePath: MODEL_CACHE_DIR } }],
    });
    this.container = this.taskDefinition.addContainer('Runner', {
      image: ecs.ContainerImage.fromAsset(props.imageDirectory, {
        file: props.dockerfile ?? 'gpu-runner/Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      gpuCount: 1,
      memoryReservationMiB: props.memoryReservationMiB ?? 12288,
      stopTimeout: Duration.seconds(this.stopTimeoutSeconds),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'runner' }),
      environment: {
        OCD_BUCKET: props.bucket.bucketName,
        OCD_TABLE: props.table.tableName,
        OCD_QUEUE_URL: props.queue.queueUrl,
        OCD_REGION: Stack.of(this).region,
        OCD_MODEL_URI: this.modelUri,
        ...(this.controlnetUri ? { OCD_CONTROLNET_URI: this.controlnetUri } : {}),
        OCD_MODEL_CACHE_DIR: MODEL_CACHE_DIR,
        OCD_PROVIDER: 'cuda',
        OCD_GRACE_SECONDS: String(this.graceSeconds),
        OCD_HEALTH_PORT: String(healthPort),
        OCD_JOB_DEADLINE_SECONDS: String(props.jobDeadlineSeconds ?? 1800),
      },
      secrets: { OCD_WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(this.webhookSecret) },
      healthCheck: {
        // Node 22's fetch: the image needs no curl. /healthz turns 200 once the model is loaded.
        command: ['CMD-SHELL', `node -e "fetch('http://127.0.0.1:${healthPort}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        // The first start downloads the model and builds its graphs: 300 s grace plus 10 failed checks = 10 minutes.
        startPeriod: Duration.seconds(300),
        retries: 10,
      },
    });
    acknowledgeNagRule(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds only resource names and tuning numbers; the one secret (the webhook signing key) is injected from Secrets Manager.',
    );
    this.container.addMountPoints({ sourceVolume: 'model-cache', containerPath: MODEL_CACHE_DIR, readOnly: false });

    this.service = new ecs.Ec2Service(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // Starts empty; only the queue scaling changes it (CloudFormation leaves an unchanged value alone on updates).
      desiredCount: 0,
      // A deployment may stop the old task first: no second GPU is bought to roll out. Busy tasks are kept by the
      // runner's task scale-in protection, which also covers deployments.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      capacityProviderStrategies: [{ capacityProvider: this.capacityProvider.capacityProviderName, weight: 1 }],
      circuitBreaker: { rollback: true },
    });
    // The strategy names a capacity provider that must already be associated with the cluster; without this
    // dependency CloudFormation may create the service first and fail.
    this.service.node.addDependency(this.cluster);

    this.grantRunnerAccess(props);
    acknowledgeNagRule(
      this.autoScalingGroup,
      'AwsSolutions-AS3',
      'The ECS capacity provider owns this group\'s scaling; its activity is in the ECS and Auto Scaling histories, and a notification topic would add cost without an operator action.',
    );
    // Statements CDK writes for the ECS agent on the instances and for image pulls and logs in the execution role.
    acknowledgeNagRule(
      this.autoScalingGroup.role,
      'AwsSolutions-IAM5[Resource::*]',
      'The ECS agent calls (ecs:DiscoverPollEndpoint, ecs:Submit*, ecr:GetAuthorizationToken...) do not support resource-level permissions.',
    );
    acknowledgeNagRule(
      this.autoScalingGroup.role,
      'AwsSolutions-IAM5[Action::ecs:Submit*]',
      'ecs:SubmitContainerStateChange/SubmitTaskStateChange/SubmitAttachmentStateChanges are the agent\'s state reports, written by CDK as ecs:Submit*.',
    );
    const executionRole = this.taskDefinition.obtainExecutionRole();
    acknowledgeNagRule(executionRole, 'AwsSolutions-IAM5[Resource::*]', 'ecr:GetAuthorizationToken, needed to pull the runner image, has no resource-level permissions.');
  }

  private createInstances(props: GpuWorkersProps): autoscaling.AutoScalingGroup {
    const securityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: props.vpc,
      description: 'GPU workers: no inbound traffic; outbound to AWS APIs and webhook receivers',
      allowAllOutbound: true,
    });
    const group = new autoscaling.AutoScalingGroup(this, 'Instances', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      instanceType: new ec2.InstanceType(this.instanceType),
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
      minCapacity: 0,
      maxCapacity: this.maxWorkers,
      securityGroup,
      requireImdsv2: true,
      associatePublicIpAddress: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: autoscaling.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 100, {
            volumeType: autoscaling.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    group.addUserData(
      'echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config',
      // Model cache on the local NVMe instance store when there is one (g5.xlarge: 250 GB), else on the root volume.
      `mkdir -p ${MODEL_CACHE_DIR}`,
      "nvme_dev=$(lsblk -dpno NAME,MODEL | awk '/Instance Storage/ {print $1; exit}')",
      `if [ -n "$nvme_dev" ] && ! mountpoint -q ${MODEL_CACHE_DIR}; then mkfs.xfs -f "$nvme_dev" && mount -o noatime "$nvme_dev" ${MODEL_CACHE_DIR}; fi`,
      `chown ${WORKER_UID}:${WORKER_UID} ${MODEL_CACHE_DIR}`,
    );
    return group;
  }

  /** Least privilege for the runner: read inputs and the model, write results, its table calls, consume the queue. */
  private grantRunnerAccess(props: GpuWorkersProps): void {
    const role = this.taskDefinition.taskRole;
    const inputs = props.bucket.arnForObjects(`${MEDIA_PREFIXES.uploads}*`);
    const results = props.bucket.arnForObjects(`${MEDIA_PREFIXES.jobs}*`);
    const model = props.model.bucket.arnForObjects(`${props.model.prefix}*`);
    const controlnet = props.controlnet?.bucket.arnForObjects(`${props.controlnet.prefix}*`);
    const tasks = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadInputs', actions: ['s3:GetObject'], resources: [inputs] }));
    // DeleteObject: a job canceled while uploading has its partial outputs removed.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteResults', actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], resources: [results] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadModel', actions: ['s3:GetObject'], resources: [model] }));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListModel',
        actions: ['s3:ListBucket'],
        resources: [props.model.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${props.model.prefix}*`] } },
      }),
    );
    if (props.controlnet && controlnet) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadControlNet', actions: ['s3:GetObject'], resources: [controlnet] }));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListControlNet',
          actions: ['s3:ListBucket'],
          resources: [props.controlnet.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${props.controlnet.prefix}*`] } },
        }),
      );
    }
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'JobsTable', actions: [...WORKER_TABLE_ACTIONS], resources: [props.table.tableArn] }));
    // A create that died between writing its job and sending the message: an idle runner sends it (or cleans up).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SweepUnsentJobs',
        actions: [...WORKER_UNSENT_SWEEP_ACTIONS],
        resources: [props.table.tableArn, `${props.table.tableArn}/index/${JOBS_TABLE.queueIndex.name}`],
      }),
    );
    // The runner protects its own task from scale-in while a job runs (the ECS agent's task-protection endpoint).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'TaskScaleInProtection', actions: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'], resources: [tasks] }),
    );
    props.queue.grantConsumeMessages(role);
    props.queue.grantSendMessages(role); // the unsent-message sweep sends what a dead create owed
    if (props.deadLetterQueue) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SweepDeadLetters',
          actions: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
          resources: [props.deadLetterQueue.queueArn],
        }),
      );
    }
    acknowledgeWildcardResources(
      role,
      [inputs, results, model, ...(controlnet ? [controlnet] : [])],
      'Object keys under one prefix: inputs and results are named by upload and job ids made at run time, and the model and ControlNet folders hold many files.',
    );
    acknowledgeWildcardResources(role, [tasks], 'Task ids are assigned by ECS at run time; the wildcard is limited to tasks of this cluster.');
  }
}

function validateWorkerProps(instanceType: string, maxWorkers: number, graceSeconds: number, stopTimeoutSeconds: number): void {
  checkGpuInstanceType(instanceType);
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1) {
    throw new Error(`GpuWorkers maxWorkers is ${maxWorkers}; it must be a whole number of at least 1 (the minimum is always 0).`);
  }
  if (!Number.isInteger(stopTimeoutSeconds) || stopTimeoutSeconds < 2 || stopTimeoutSeconds > 120) {
    throw new Error(`GpuWorkers stopTimeoutSeconds is ${stopTimeoutSeconds}; ECS allows 2 to 120 seconds.`);
  }
  if (!Number.isInteger(graceSeconds) || graceSeconds < 1 || graceSeconds >= stopTimeoutSeconds) {
    throw new Error(
      `GpuWorkers graceSeconds is ${graceSeconds}, but it must be a whole number of at least 1 and below stopTimeoutSeconds ` +
        `(${stopTimeoutSeconds}), so the runner can hand its job back before ECS kills it. Fix: lower graceSeconds or raise stopTimeoutSeconds (max 120).`,
    );
  }
}
