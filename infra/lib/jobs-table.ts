import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { JOBS_TABLE, jobsTableDefinition } from '../../shared/job-store.ts';

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

/** The index names of the jobs table, for grants. */
export const JOBS_TABLE_INDEXES = [JOBS_TABLE.tenantIndex.name, JOBS_TABLE.queueIndex.name] as const;

/**
 * The DynamoDB jobs table, laid out exactly as shared/job-store.ts defines it (`jobsTableDefinition`, the same
 * definition the local emulators get): one item per job and per idempotency key, listed per tenant newest-first,
 * queued jobs counted through a sparse index, expired by TTL. On-demand billing costs nothing while idle.
 */
export class JobsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobsTableProps = {}) {
    super(scope, id);
    const definition = jobsTableDefinition('unused');
    const key = (name: string): dynamodb.Attribute => ({ name, type: attributeType(definition.AttributeDefinitions ?? [], name) });
    const hashOf = (schema: { AttributeName?: string; KeyType?: string }[] = []) => schema.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const rangeOf = (schema: { AttributeName?: string; KeyType?: string }[] = []) => schema.find((k) => k.KeyType === 'RANGE')?.AttributeName;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: key(hashOf(definition.KeySchema) ?? JOBS_TABLE.partitionKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: JOBS_TABLE.ttlAttribute,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    for (const index of definition.GlobalSecondaryIndexes ?? []) {
      const sortKey = rangeOf(index.KeySchema);
      this.table.addGlobalSecondaryIndex({
        indexName: index.IndexName!,
        partitionKey: key(hashOf(index.KeySchema)!),
        ...(sortKey ? { sortKey: key(sortKey) } : {}),
        projectionType: projectionType(index.Projection?.ProjectionType),
        ...(index.Projection?.NonKeyAttributes ? { nonKeyAttributes: index.Projection.NonKeyAttributes } : {}),
      });
    }
  }
}

function attributeType(definitions: { AttributeName?: string; AttributeType?: string }[], name: string): dynamodb.AttributeType {
  const type = definitions.find((d) => d.AttributeName === name)?.AttributeType;
  switch (type) {
    case 'S':
      return dynamodb.AttributeType.STRING;
    case 'N':
      return dynamodb.AttributeType.NUMBER;
    case 'B':
      return dynamodb.AttributeType.BINARY;
    default:
      throw new Error(`JobsTable: the shared table definition gives key attribute '${name}' the type ${JSON.stringify(type)}; expected S, N or B.`);
  }
}

function projectionType(type: string | undefined): dynamodb.ProjectionType {
  switch (type ?? 'ALL') {
    case 'ALL':
      return dynamodb.ProjectionType.ALL;
    case 'KEYS_ONLY':
      return dynamodb.ProjectionType.KEYS_ONLY;
    case 'INCLUDE':
      return dynamodb.ProjectionType.INCLUDE;
    default:
      throw new Error(`JobsTable: unknown projection type ${JSON.stringify(type)} in the shared table definition; expected ALL, KEYS_ONLY or INCLUDE.`);
  }
}
