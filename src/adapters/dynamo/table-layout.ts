/**
 * The DynamoDB table layout, shared by the CDK stack (which creates the tables in AWS) and the local
 * runtime (which creates the same tables in dynalite). Change it here and both follow.
 */

export type TableRole = 'runs' | 'locks' | 'approvals' | 'deliveries';

export interface TableLayout {
  role: TableRole;
  partitionKey: string;
  sortKey?: string;
  globalIndexes: Array<{ name: string; partitionKey: string; sortKey: string }>;
}

/** Epoch seconds after which DynamoDB may delete an item. Clean-up only: no logic reads it. */
export const TTL_ATTRIBUTE = 'ttl';

export const RUNS_BY_CREATED_INDEX = 'byCreated';

export const TABLES: Record<TableRole, TableLayout> = {
  runs: {
    role: 'runs',
    partitionKey: 'id',
    // Listing newest first needs one ordered index; runs are few enough for a single partition.
    globalIndexes: [{ name: RUNS_BY_CREATED_INDEX, partitionKey: 'listKey', sortKey: 'createdKey' }],
  },
  // Lock holders, their push-ordered wait queues, lock history and per-repository sequence counters:
  // pk = LOCK#<repo>#<env> with sk HOLDER | QUEUE#<seq>#<runId> | EVENT#<time>#<n>; pk = SEQ#<repo>, sk COUNTER.
  locks: { role: 'locks', partitionKey: 'pk', sortKey: 'sk', globalIndexes: [] },
  approvals: { role: 'approvals', partitionKey: 'id', globalIndexes: [] },
  deliveries: { role: 'deliveries', partitionKey: 'id', globalIndexes: [] },
};

export type TableNames = Record<TableRole, string>;

/** The names the local runtime uses; in AWS the stack passes its generated names via the environment. */
export function localTableNames(prefix = 'tfgate'): TableNames {
  return {
    runs: `${prefix}-runs`,
    locks: `${prefix}-locks`,
    approvals: `${prefix}-approvals`,
    deliveries: `${prefix}-deliveries`,
  };
}

// The key's encoding lives with the domain (domain/lock-key.ts); kept importable from here for the stores.
export { lockKeyFor } from '../../domain/lock-key.js';
