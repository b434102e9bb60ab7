/** The AWS-backed dependencies of the app, built from configuration. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createDynamoDBDocumentClient, createS3Client, createSQSClient } from '../shared/aws.ts';
import type { ApiConfig } from '../shared/config.ts';
import { JobStore } from '../shared/job-store.ts';
import { resolveHostWithDns } from '../shared/webhook-url.ts';
import { configuredHashes, secretKeyResolver, staticKeyResolver } from './api-keys.ts';
import type { AppDeps } from './deps.ts';
import { SQSJobQueue } from './queue.ts';
import { S3ObjectStorage } from './storage.ts';

export function realDeps(config: ApiConfig): AppDeps {
  const hashes = configuredHashes(config.auth);
  const apiKeys = config.auth.secretArn
    ? secretKeyResolver(new SecretsManagerClient({ region: config.aws.region }), config.auth.secretArn, hashes)
    : staticKeyResolver(hashes);
  return {
    config,
    storage: new S3ObjectStorage(createS3Client(config.aws), config.bucket),
    queue: new SQSJobQueue(createSQSClient(config.aws), config.queueUrl),
    jobs: new JobStore({ client: createDynamoDBDocumentClient(config.aws), table: config.table, createLeaseMs: config.createLeaseSeconds * 1000 }),
    apiKeys,
    resolveHost: resolveHostWithDns,
  };
}
