/**
 * AWS client factories from configuration. The same SDK code paths run against AWS and against the local
 * emulators; only endpoints and credentials differ.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsConfig } from './config.ts';

function common(aws: AwsConfig, endpoint: string | undefined) {
  return {
    region: aws.region,
    ...(endpoint ? { endpoint } : {}),
    ...(aws.credentials ? { credentials: aws.credentials } : {}),
  };
}

/**
 * S3 client. With an endpoint override (emulators) it uses path-style addressing and sends checksums only when
 * required: s3rver stores aws-chunked framing inside the object otherwise.
 */
export function createS3Client(aws: AwsConfig): S3Client {
  const endpoint = aws.endpoints.s3;
  return new S3Client({
    ...common(aws, endpoint),
    ...(endpoint ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
  });
}

export function createSQSClient(aws: AwsConfig): SQSClient {
  return new SQSClient(common(aws, aws.endpoints.sqs));
}

/** DynamoDB document client; `undefined` attributes are dropped instead of failing the write. */
export function createDynamoDBDocumentClient(aws: AwsConfig): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(common(aws, aws.endpoints.dynamodb)), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
