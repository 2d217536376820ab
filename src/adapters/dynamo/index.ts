import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type DynamoDBClient,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  ApprovalStore,
  Clock,
  DeliveryStore,
  DeploymentLedger,
  LockStore,
  RunStore,
  SequenceStore,
} from '../../domain/ports.js';
import { DynamoDeploymentLedger } from './ledger-store.js';
import { systemClock } from '../../domain/ports.js';
import { DynamoApprovalStore } from './approval-store.js';
import { DynamoDeliveryStore } from './delivery-store.js';
import { StoreError, storeCall } from './errors.js';
import { DynamoLockStore } from './lock-store.js';
import { DynamoRunStore } from './run-store.js';
import { DynamoSequenceStore } from './sequence-store.js';
import { TABLES, TTL_ATTRIBUTE, type TableLayout, type TableNames } from './table-layout.js';

export { DynamoApprovalStore } from './approval-store.js';
export { DynamoDeliveryStore } from './delivery-store.js';
export { DynamoLockStore } from './lock-store.js';
export { DynamoSequenceStore } from './sequence-store.js';

export interface DynamoStores {
  runs: RunStore;
  locks: LockStore;
  approvals: ApprovalStore;
  deliveries: DeliveryStore;
  sequences: SequenceStore;
  ledger: DeploymentLedger;
}

/**
 * The DocumentClient the stores expect: optional fields left undefined (a run without a pull request,
 * a stage without a plan yet) are dropped instead of failing the write.
 */
export function documentClientFor(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function createDynamoStores(
  client: DynamoDBDocumentClient,
  tables: TableNames,
  clock: Clock = systemClock,
): DynamoStores {
  return {
    runs: new DynamoRunStore(client, tables.runs),
    locks: new DynamoLockStore(client, tables.locks, clock),
    approvals: new DynamoApprovalStore(client, tables.approvals),
    deliveries: new DynamoDeliveryStore(client, tables.deliveries),
    sequences: new DynamoSequenceStore(client, tables.locks),
    ledger: new DynamoDeploymentLedger(client, tables.locks),
  };
}

const TABLE_ACTIVE_TIMEOUT_MS = 60_000;
const TABLE_POLL_MS = 100;

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;
}

/**
 * Creates every table in TABLES (the local runtime and tests; in AWS the CDK stack owns them).
 * Idempotent: tables that already exist are left alone.
 */
export async function createTables(client: DynamoDBClient, tables: TableNames): Promise<void> {
  await Promise.all(
    Object.values(TABLES).map(async (layout) => {
      const tableName = tables[layout.role];
      await createTable(client, tableName, layout);
      await waitUntilActive(client, tableName);
      await enableTimeToLive(client, tableName);
    }),
  );
}

async function createTable(client: DynamoDBClient, tableName: string, layout: TableLayout): Promise<void> {
  const keyAttributes = new Set<string>();
  const keySchema = (partitionKey: string, sortKey?: string): KeySchemaElement[] => {
    keyAttributes.add(partitionKey);
    if (sortKey) keyAttributes.add(sortKey);
    return sortKey
      ? [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ]
      : [{ AttributeName: partitionKey, KeyType: 'HASH' }];
  };
  const tableKeySchema = keySchema(layout.partitionKey, layout.sortKey);
  const globalIndexes = layout.globalIndexes.map((index) => ({
    IndexName: index.name,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: 'ALL' as const },
  }));
  const attributeDefinitions: AttributeDefinition[] = [...keyAttributes].map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: tableKeySchema,
        AttributeDefinitions: attributeDefinitions,
        GlobalSecondaryIndexes: globalIndexes.length > 0 ? globalIndexes : undefined,
      }),
    );
  } catch (error) {
    if (errorName(error) === 'ResourceInUseException') return;
    throw new StoreError(
      `Creating table ${tableName} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

async function waitUntilActive(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  for (;;) {
    const description = await storeCall('DescribeTable', () =>
      client.send(new DescribeTableCommand({ TableName: tableName })),
    );
    const table = description.Table;
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline)
      throw new StoreError(`Table ${tableName} did not become ACTIVE within ${TABLE_ACTIVE_TIMEOUT_MS / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, TABLE_POLL_MS));
  }
}

/**
 * TTL is clean-up only, so a server without the operation (dynalite) or a table that already has it
 * is fine as it is.
 */
async function enableTimeToLive(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (error) {
    const name = errorName(error);
    if (name === 'UnknownOperationException' || name === 'ValidationException') return;
    throw new StoreError(
      `Enabling TTL on ${tableName} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
