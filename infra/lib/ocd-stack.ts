import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { EditApi } from './edit-api.ts';
import { GpuWorkers, type ModelLocation } from './gpu-workers.ts';
import { JobQueue } from './job-queue.ts';
import { JobsTable } from './jobs-table.ts';
import { MEDIA_PREFIXES, MediaBucket } from './media-bucket.ts';
import { QueueDepthScaling } from './queue-depth-scaling.ts';
import { parseS3Uri } from './s3-uri.ts';
import { ServiceAlarms } from './service-alarms.ts';
import { WorkerNetwork } from './worker-network.ts';

export interface OcdStackProps extends StackProps {
  /** The repository root: the API bundle and the runner image are built from it. */
  readonly repoRoot: string;
  /**
   * The Lambda handler file, relative to `repoRoot`.
   * @default 'functions/lambda.ts'
   */
  readonly apiEntry?: string;
  /**
   * Availability zones of the worker VPC; fixed so synth needs no AWS lookup.
   * @default - the CDK default (a lookup for an account-bound stack, Fn::GetAZs otherwise)
   */
  readonly availabilityZones?: readonly string[];
  /**
   * `s3://bucket/prefix/` of the Stable Diffusion 1.x diffusers folder the runners load.
   * @default - `s3://<the stack's bucket>/models/`
   */
  readonly modelUri?: string;
  /**
   * `s3://bucket/prefix/` of the diffusers ControlNetModel folder of the ControlVideo editor (e.g. an SD1.5 canny
   * ControlNet); the runners download it like the model, and the API accepts ControlVideo requests only when set.
   * @default - none: ControlVideo requests are refused with `controlnet_missing`
   */
  readonly controlnetUri?: string;
  /** @default 'g5.xlarge' */
  readonly instanceType?: string;
  /** @default 4 */
  readonly maxWorkers?: number;
  /** Days job outputs are kept. @default 7 */
  readonly artifactRetentionDays?: number;
  /** @default 20 */
  readonly apiReservedConcurrency?: number;
}

/**
 * The whole service in one stack: media bucket, jobs table, queue with dead-letter queue, the edit API (Lambda
 * function URL), GPU workers on ECS that scale with the queue from zero, alarms and outputs.
 */
export class OcdStack extends Stack {
  readonly media: MediaBucket;
  readonly jobs: JobsTable;
  readonly jobQueue: JobQueue;
  readonly api: EditApi;
  readonly workers: GpuWorkers;
  readonly scaling: QueueDepthScaling;
  readonly alarms: ServiceAlarms;
  private readonly fixedAvailabilityZones?: readonly string[];

  constructor(scope: Construct, id: string, props: OcdStackProps) {
    super(scope, id, props);
    this.fixedAvailabilityZones = props.availabilityZones;

    this.media = new MediaBucket(this, 'Media', { artifactRetentionDays: props.artifactRetentionDays });
    this.jobs = new JobsTable(this, 'Jobs');
    this.jobQueue = new JobQueue(this, 'JobQueue');

    this.api = new EditApi(this, 'Api', {
      bucket: this.media.bucket,
      table: this.jobs.table,
      queue: this.jobQueue.queue,
      entry: join(props.repoRoot, props.apiEntry ?? 'functions/lambda.ts'),
      projectRoot: props.repoRoot,
      depsLockFilePath: join(props.repoRoot, 'package-lock.json'),
      reservedConcurrentExecutions: props.apiReservedConcurrency,
      jobTtlDays: this.media.artifactRetentionDays,
      controlnetUri: props.controlnetUri,
    });

    const network = new WorkerNetwork(this, 'Network');
    this.workers = new GpuWorkers(this, 'Workers', {
      vpc: network.vpc,
      bucket: this.media.bucket,
      table: this.jobs.table,
      queue: this.jobQueue.queue,
      deadLetterQueue: this.jobQueue.deadLetterQueue,
      model: this.modelLocation(props.modelUri),
      controlnet: props.controlnetUri === undefined ? undefined : this.externalLocation('ControlNetBucket', props.controlnetUri),
      imageDirectory: props.repoRoot,
      instanceType: props.instanceType,
      maxWorkers: props.maxWorkers,
    });
    this.scaling = new QueueDepthScaling(this, 'QueueScaling', {
      cluster: this.workers.cluster,
      service: this.workers.service,
      queue: this.jobQueue.queue,
      maxTasks: this.workers.maxWorkers,
    });
    this.alarms = new ServiceAlarms(this, 'Alarms', {
      queue: this.jobQueue.queue,
      deadLetterQueue: this.jobQueue.deadLetterQueue,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.functionUrl.url, description: 'Base URL of the edit API' });
    new CfnOutput(this, 'BucketName', { value: this.media.bucket.bucketName, description: 'Uploads, job outputs and (by default) the model' });
    new CfnOutput(this, 'QueueUrl', { value: this.jobQueue.queue.queueUrl, description: 'The edit-jobs queue' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.jobQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'ApiKeysSecretArn', { value: this.api.apiKeysSecret.secretArn, description: 'Pass to `npx ocd keys create --secret-id`' });
    new CfnOutput(this, 'ModelUri', { value: this.workers.modelUri, description: 'Upload the diffusers folder here' });
    if (this.workers.controlnetUri) {
      new CfnOutput(this, 'ControlNetUri', { value: this.workers.controlnetUri, description: "The ControlVideo editor's ControlNet folder" });
    }

  }

  /** Fixed zones (from context) instead of a lookup: synth works offline and GPU capacity can be steered to zones that have it. */
  override get availabilityZones(): string[] {
    return this.fixedAvailabilityZones ? [...this.fixedAvailabilityZones] : super.availabilityZones;
  }

  private modelLocation(modelUri: string | undefined): ModelLocation {
    if (modelUri === undefined) return { bucket: this.media.bucket, prefix: MEDIA_PREFIXES.models };
    return this.externalLocation('ModelBucket', modelUri);
  }

  private externalLocation(id: string, uri: string): ModelLocation {
    const { bucketName, prefix } = parseS3Uri(uri);
    return { bucket: s3.Bucket.fromBucketName(this, id, bucketName), prefix };
  }
}
