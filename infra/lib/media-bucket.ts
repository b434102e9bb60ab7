import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeNagRule } from './nag.ts';

/** Key prefixes of the media bucket (the layout shared/s3-keys.ts writes and reads). */
export const MEDIA_PREFIXES = {
  uploads: 'uploads/',
  jobs: 'jobs/',
  models: 'models/',
} as const;

export interface MediaBucketProps {
  /**
   * Days after which job artifacts (`jobs/`) are deleted.
   * @default 7
   */
  readonly artifactRetentionDays?: number;
  /**
   * Days after which uploaded inputs (`uploads/`) are deleted: they are only needed until the job has run.
   * @default 1
   */
  readonly uploadRetentionDays?: number;
  /**
   * Origins allowed to upload from a browser with a presigned POST/PUT and to fetch results.
   * @default ['*'] - any origin: every request is authorized by its presigned signature, not by origin
   */
  readonly corsAllowedOrigins?: string[];
  /**
   * What happens to the bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN - user media and the model are kept; empty and delete the bucket by hand
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The one S3 bucket of the service: caller uploads, job outputs and (by default) the model folder.
 * Encrypted with S3-managed keys, never public, TLS only, and self-cleaning through lifecycle rules.
 */
export class MediaBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly artifactRetentionDays: number;
  readonly uploadRetentionDays: number;

  constructor(scope: Construct, id: string, props: MediaBucketProps = {}) {
    super(scope, id);
    this.artifactRetentionDays = props.artifactRetentionDays ?? 7;
    this.uploadRetentionDays = props.uploadRetentionDays ?? 1;
    for (const [name, days] of [['artifactRetentionDays', this.artifactRetentionDays], ['uploadRetentionDays', this.uploadRetentionDays]] as const) {
      if (!Number.isInteger(days) || days < 1) {
        throw new Error(`MediaBucket ${name} is ${days}; it must be a whole number of days, at least 1.`);
      }
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      // SSE-S3: free, and presigned uploads need no KMS permissions for the signer.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      cors: [
        {
          // Browsers upload with a presigned POST (form) or PUT and read results with a presigned GET.
          allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
          allowedOrigins: props.corsAllowedOrigins ?? ['*'],
          allowedHeaders: ['*'],
          exposedHeaders: ['ETag'],
          maxAge: 3000,
        },
      ],
      lifecycleRules: [
        { id: 'expire-uploads', prefix: MEDIA_PREFIXES.uploads, expiration: Duration.days(this.uploadRetentionDays) },
        { id: 'expire-job-artifacts', prefix: MEDIA_PREFIXES.jobs, expiration: Duration.days(this.artifactRetentionDays) },
        // Applies to the whole bucket, models/ included: a half-finished multipart upload is never useful.
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    acknowledgeNagRule(
      this.bucket,
      'AwsSolutions-S1',
      'Callers reach objects only through presigned URLs that the API issues and logs per request; S3 access logs would need a second bucket. Enable CloudTrail data events if an object-level audit is required.',
    );
  }
}
