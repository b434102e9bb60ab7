import { Duration, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JOBS_TABLE_INDEXES } from './jobs-table.ts';
import { MEDIA_PREFIXES } from './media-bucket.ts';
import { acknowledgeNagRule, acknowledgeWildcardResources } from './nag.ts';

/**
 * The DynamoDB operations the API performs through shared/job-store.ts: create a job and reserve an idempotency key
 * (conditional puts), read, cancel (conditional update), release a key (delete), list and count (queries on the indexes).
 */
export const API_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'] as const;

export interface EditApiProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITable;
  readonly queue: sqs.IQueue;
  /** The TypeScript file exporting `handler` (the Hono app through hono/aws-lambda). */
  readonly entry: string;
  /** The repository root: esbuild resolves modules from here. */
  readonly projectRoot: string;
  /** The lockfile that pins the bundled dependencies. */
  readonly depsLockFilePath: string;
  /**
   * Concurrent executions reserved for (and capped at) this function: the API's only throttle, since a
   * function URL has no usage plans.
   * @default 20
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * The largest upload the API will presign, in bytes.
   * @default 209715200 (200 MiB)
   */
  readonly maxUploadBytes?: number;
  /**
   * Days a job record is kept before DynamoDB's TTL removes it (OCD_JOB_TTL_DAYS); match the artifact retention.
   * @default 7
   */
  readonly jobTtlDays?: number;
  /**
   * An existing secret holding the API key hashes (`{"keys":[{tenant, sha256, createdAt}]}`).
   * @default - a new secret with an empty key list; add keys with `npx ocd keys create`
   */
  readonly apiKeysSecret?: secretsmanager.ISecret;
  /**
   * The ControlNet folder the runners load (OCD_CONTROLNET_URI); the API only checks that one is set, so that
   * ControlVideo requests are refused at create time when none is.
   * @default - none
   */
  readonly controlnetUri?: string;
  /**
   * Days the function's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The public edit API: the Hono app in one Lambda function (Node.js 22, arm64, bundled locally by esbuild) behind a
 * Lambda function URL.
 *
 * Why a function URL and not an API Gateway HTTP API: the app does its own routing, API-key auth (hashes from
 * Secrets Manager) and validation, and responses are small JSON (video bytes go to S3 through presigned URLs), so a
 * gateway would add only cost (about $1.00 per million requests at HTTP API list prices, approximate) and a 30 s
 * integration limit. A function URL is free, its only throttle is reserved concurrency, and a custom domain or WAF
 * can be added later with CloudFront in front.
 */
export class EditApi extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly functionUrl: lambda.FunctionUrl;
  readonly apiKeysSecret: secretsmanager.ISecret;
  readonly reservedConcurrentExecutions: number;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EditApiProps) {
    super(scope, id);
    this.reservedConcurrentExecutions = props.reservedConcurrentExecutions ?? 20;
    const maxUploadBytes = props.maxUploadBytes ?? 200 * 1024 * 1024;
    if (!Number.isInteger(maxUploadBytes) || maxUploadBytes < 1 || maxUploadBytes > 5 * 1024 ** 3) {
      throw new Error(`EditApi maxUploadBytes is ${maxUploadBytes}; it must be a whole number of bytes from 1 to 5 GiB (a single presigned upload's limit).`);
    }

    this.apiKeysSecret =
      props.apiKeysSecret ??
      new secretsmanager.Secret(this, 'ApiKeys', {
        description: 'SHA-256 hashes of the edit API keys: {"keys":[{"tenant","sha256","createdAt"}]}. Managed with `npx ocd keys create`.',
        // Not a secret yet: the empty list. Keys are added by the CLI, which stores only their hashes.
        secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
        removalPolicy: RemovalPolicy.RETAIN,
      });
    if (!props.apiKeysSecret) {
      acknowledgeNagRule(
        this.apiKeysSecret,
        'AwsSolutions-SMG4',
        'Holds hashes of customer API keys, which are issued and revoked by operators with `ocd keys`; an automatic rotation would invalidate every customer key.',
      );
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: log writes only to this function's log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Edit API function: presign media, job records, enqueue jobs, read API key hashes',
    });
    logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: props.depsLockFilePath,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      reservedConcurrentExecutions: this.reservedConcurrentExecutions,
      logGroup,
      role: this.role,
      environment: {
        OCD_BUCKET: props.bucket.bucketName,
        OCD_TABLE: props.table.tableName,
        OCD_QUEUE_URL: props.queue.queueUrl,
        OCD_REGION: Stack.of(this).region,
        OCD_API_KEYS_SECRET_ARN: this.apiKeysSecret.secretArn,
        OCD_MAX_UPLOAD_BYTES: String(maxUploadBytes),
        OCD_JOB_TTL_DAYS: String(props.jobTtlDays ?? 7),
        ...(props.controlnetUri ? { OCD_CONTROLNET_URI: props.controlnetUri } : {}),
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        // Bundle on this machine with the installed esbuild; Docker is never needed.
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // Our pinned AWS SDK goes into the bundle instead of the runtime's copy, so the versions we test are the ones that run.
        externalModules: [],
        // ESM output: CommonJS dependencies still call require() for Node built-ins.
        banner: "import { createRequire as __ocdCreateRequire } from 'node:module'; const require = __ocdCreateRequire(import.meta.url);",
      },
    });

    acknowledgeNagRule(
      this.function,
      'AwsSolutions-L1',
      'Node.js 22 on purpose: the API is built and tested for the same major Node.js version as the runner image; move both together.',
    );
    // Public on purpose: every route but the health check demands an API key, checked by the app against hashed keys.
    this.functionUrl = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.grantDataAccess(props);
  }

  /** Least privilege: presign uploads under uploads/, read results under jobs/, the table calls it makes, send to the queue. */
  private grantDataAccess(props: EditApiProps): void {
    const uploads = props.bucket.arnForObjects(`${MEDIA_PREFIXES.uploads}*`);
    const results = props.bucket.arnForObjects(`${MEDIA_PREFIXES.jobs}*`);
    // Presigned POSTs for browser uploads, and direct puts of small videos sent inline with a create.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteUploads', actions: ['s3:PutObject'], resources: [uploads] }));
    // jobs/: presigned GETs of outputs. uploads/: a HEAD after upload checks size and type (presigned PUTs and S3
    // emulators do not enforce POST-policy limits).
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadUploadsAndResults', actions: ['s3:GetObject'], resources: [results, uploads] }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'JobsTable',
        actions: [...API_TABLE_ACTIONS],
        resources: [props.table.tableArn, ...JOBS_TABLE_INDEXES.map((index) => `${props.table.tableArn}/index/${index}`)],
      }),
    );
    props.queue.grantSendMessages(this.role);
    this.apiKeysSecret.grantRead(this.role);
    acknowledgeWildcardResources(
      this.role,
      [uploads, results],
      'Object keys under one prefix: upload and job ids are created at run time, so the keys cannot be listed in advance.',
    );
  }
}
