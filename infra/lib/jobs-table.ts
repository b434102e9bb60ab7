import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/** Key and index names of the jobs table (the names shared/job-store.ts uses). */
export const JOBS_TABLE_SCHEMA = {
  partitionKey: 'pk',
  tenantIndexName: 'byTenant',
  tenantIndexPartitionKey: 'tenant',
  tenantIndexSortKey: 'createdAt',
  ttlAttribute: 'expiresAt',
} as const;

export interface JobsTableProps {
  /**
   * Refuse to delete the table (also through a stack deletion) until this is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The DynamoDB jobs table: one item per job (and per idempotency key), keyed by `pk`, listed per tenant newest-first
 * through the `byTenant` index, expired by TTL on `expiresAt`. On-demand billing costs nothing while idle.
 */
export class JobsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobsTableProps = {}) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: JOBS_TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: JOBS_TABLE_SCHEMA.ttlAttribute,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: JOBS_TABLE_SCHEMA.tenantIndexName,
      partitionKey: { name: JOBS_TABLE_SCHEMA.tenantIndexPartitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: JOBS_TABLE_SCHEMA.tenantIndexSortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
