/**
 * Start the loopback AWS emulators the local stack and the tests run against: s3rver behind a front that checks
 * presigned POST uploads as S3 does (s3-front.ts), fauxqs 1.9.2 (SQS) and dynalite (DynamoDB, with conditional
 * writes and GSIs). The AWS SDK clients stay unchanged; only their endpoints point here. Each emulator listens on
 * loopback only (unless `host` says otherwise), on a free port unless one is given.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp as buildFauxqs } from 'fauxqs';
import type { ResourceConfig } from '../shared/config.ts';
import { JOBS_TABLE, jobsTableDefinition } from '../shared/job-store.ts';
import { LOOPBACK, reachableHost } from './hosts.ts';
import { startS3Front } from './s3-front.ts';

const require = createRequire(import.meta.url);

// s3rver and dynalite ship no type declarations; these are the parts we use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;
type Dynalite = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number; path?: string }) => Server;

const S3rver = require('s3rver') as S3rverConstructor;
const dynalite = require('dynalite') as Dynalite;

/** s3rver accepts only these credentials in SigV4 signatures. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;


// Browsers (the playground) upload straight to the bucket, so it allows cross-origin POST and GET.
const CORS_XML = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

export interface EmulatorOptions {
  /** @default 'ocd-local' */
  bucket?: string;
  /** @default 'ocd-jobs' */
  table?: string;
  /** @default 'ocd-edit-jobs' */
  queueName?: string;
  /** @default 'us-east-1' */
  region?: string;
  /** Address the emulators listen on. @default '127.0.0.1' (this machine only) */
  host?: string;
  /** Ports to listen on; 0 picks a free one. @default 0 for each */
  ports?: { s3?: number; sqs?: number; dynamodb?: number };
  /** Where s3rver keeps objects. @default - a new temporary folder, removed on stop */
  dataDir?: string;
  /** Where dynalite keeps the jobs table (LevelDB), so jobs survive a restart. @default - in memory */
  dynamodbDir?: string;
}

export interface Emulators {
  /** Ready to hand to the AWS client factories of `shared/aws.ts` and the job store. */
  resources: ResourceConfig;
  /** The environment variables of `shared/config.ts` that point at these emulators. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Start all three emulators and create the bucket, the queue and the jobs table.
 *
 * @example const emulators = await startEmulators(); ...; await emulators.stop();
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const bucket = options.bucket ?? 'ocd-local';
  const table = options.table ?? 'ocd-jobs';
  const queueName = options.queueName ?? 'ocd-edit-jobs';
  const region = options.region ?? 'us-east-1';
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'ocd-s3-')));
  const host = options.host ?? LOOPBACK;
  const stops: (() => Promise<void>)[] = [];

  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch(() => undefined);
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    // s3rver on a private loopback port; clients reach it through the verifying front.
    const s3 = new S3rver({
      address: LOOPBACK,
      port: 0,
      directory: dataDir,
      silent: true,
      configureBuckets: [{ name: bucket, configs: [CORS_XML] }],
    });
    const s3Address = await s3.run();
    stops.push(() => s3.close());
    const s3Front = await startS3Front({
      host,
      port: options.ports?.s3 ?? 0,
      target: { host: LOOPBACK, port: s3Address.port },
      bucket,
      credentials: EMULATOR_CREDENTIALS,
    });
    stops.push(() => s3Front.close());

    // fauxqs's own start function always listens on every interface; its app listens where we say.
    const sqs = buildFauxqs({ logger: false, defaultRegion: region });
    await sqs.listen({ port: options.ports?.sqs ?? 0, host });
    stops.push(() => sqs.close());
    const sqsPort = (sqs.server.address() as AddressInfo).port;

    const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: options.dynamodbDir });
    await new Promise<void>((resolve, reject) => {
      dynamo.once('error', reject);
      dynamo.listen(options.ports?.dynamodb ?? 0, host, () => resolve());
    });
    stops.push(() => new Promise<void>((resolve) => dynamo.close(() => resolve())));
    const dynamoPort = (dynamo.address() as AddressInfo).port;

    const reach = reachableHost(host);
    const endpoints = {
      s3: `http://${reach}:${s3Front.port}`,
      sqs: `http://${reach}:${sqsPort}`,
      dynamodb: `http://${reach}:${dynamoPort}`,
    };
    const sqsClient = new SQSClient({ region, endpoint: endpoints.sqs, credentials: EMULATOR_CREDENTIALS });
    const { QueueUrl: queueUrl } = await sqsClient.send(new CreateQueueCommand({ QueueName: queueName }));
    sqsClient.destroy();
    if (!queueUrl) throw new Error(`the SQS emulator created no queue URL for ${queueName}`);
    const client = new DynamoDBClient({ region, endpoint: endpoints.dynamodb, credentials: EMULATOR_CREDENTIALS });
    await client.send(new CreateTableCommand(jobsTableDefinition(table))).catch((error: Error) => {
      // A persisted table (dynamodbDir) is already there after a restart.
      if (error.name !== 'ResourceInUseException') throw error;
    });
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: JOBS_TABLE.ttlAttribute, Enabled: true } }),
    ).catch(() => undefined); // dynalite may not implement TTL; expiry is not needed locally
    client.destroy();

    const resources: ResourceConfig = {
      bucket,
      table,
      queueUrl,
      aws: { region, endpoints, credentials: { ...EMULATOR_CREDENTIALS } },
    };
    const env = {
      OCD_BUCKET: bucket,
      OCD_TABLE: table,
      OCD_QUEUE_URL: queueUrl,
      OCD_REGION: region,
      OCD_S3_ENDPOINT: endpoints.s3,
      OCD_SQS_ENDPOINT: endpoints.sqs,
      OCD_DYNAMODB_ENDPOINT: endpoints.dynamodb,
      OCD_AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      OCD_AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    };
    return { resources, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
