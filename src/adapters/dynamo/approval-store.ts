import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError } from '../../domain/errors.js';
import type { ApprovalRecord, ApprovalStore, DecideResult } from '../../domain/ports.js';
import type { ApprovalStatus } from '../../domain/run.js';
import { epochSeconds, isConditionalCheckFailed, oldItemOf, storeCall, ttlAfterDays } from './errors.js';
import { TTL_ATTRIBUTE } from './table-layout.js';
import { putIfAbsent } from './put-if-absent.js';

const APPROVAL_RETENTION_DAYS = 400;

/** Each identity is one clause of the condition: a person brings a few, never an unbounded list. */
const MAX_IDS = 25;

function checkedIds(ids: readonly string[]): string[] {
  const unique = [...new Set(ids)];
  if (unique.length === 0 || unique.length > MAX_IDS)
    throw new RangeError(`an approval names between 1 and ${MAX_IDS} identities, not ${unique.length}`);
  return unique;
}

function recordOf(item: Record<string, unknown>): ApprovalRecord {
  const { [TTL_ATTRIBUTE]: _ttl, ...record } = item;
  return record as unknown as ApprovalRecord;
}

export class DynamoApprovalStore implements ApprovalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(record: ApprovalRecord): Promise<void> {
    const item = { ...record, [TTL_ATTRIBUTE]: ttlAfterDays(new Date(record.createdAt), APPROVAL_RETENTION_DAYS) };
    if (!(await putIfAbsent(this.client, this.tableName, item, 'PutItem(approval)'))) {
      throw new AlreadyExistsError(`Approval ${record.id} already exists`);
    }
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const result = await storeCall('GetItem(approval)', () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true })),
    );
    return result.Item ? recordOf(result.Item) : undefined;
  }

  async attachTaskToken(id: string, runId: string, taskToken: string): Promise<DecideResult> {
    return this.updatePending('UpdateItem(approval token)', id, {
      update: 'SET taskToken = :token',
      condition: '#status = :pending AND runId = :run',
      values: { ':token': taskToken, ':pending': 'pending', ':run': runId },
    });
  }

  async decide(
    id: string,
    decision: { status: Exclude<ApprovalStatus, 'pending'>; by?: string; reason?: string },
    now: Date,
  ): Promise<DecideResult> {
    const sets = ['#status = :decided', 'decidedAt = :at'];
    const values: Record<string, unknown> = {
      ':decided': decision.status,
      ':pending': 'pending',
      ':at': now.toISOString(),
    };
    if (decision.by !== undefined) {
      sets.push('decidedBy = :by');
      values[':by'] = decision.by;
    }
    if (decision.reason !== undefined) {
      sets.push('reason = :reason');
      values[':reason'] = decision.reason;
    }
    // A person's decision must land before the deadline; expiring and superseding are what happens after it.
    const needsTimeLeft = decision.status === 'approved' || decision.status === 'rejected';
    let condition = '#status = :pending';
    if (needsTimeLeft) {
      condition += ' AND expiresAt > :now';
      values[':now'] = epochSeconds(now);
    }
    return this.updatePending('UpdateItem(approval decision)', id, {
      update: `SET ${sets.join(', ')}`,
      condition,
      values,
    });
  }

  async addApproval(
    id: string,
    grant: { by: string; ids: string[] },
    options: { expected: number; completes: boolean },
    now: Date,
  ): Promise<DecideResult> {
    const ids = checkedIds(grant.ids);
    const at = now.toISOString();
    const values: Record<string, unknown> = {
      ':pending': 'pending',
      ':now': epochSeconds(now),
      ':expected': options.expected,
      ':grant': [{ by: grant.by, at }],
      ':ids': ids,
      ':none': [],
    };
    const sets = [
      'approvals = list_append(if_not_exists(approvals, :none), :grant)',
      'approverIds = list_append(if_not_exists(approverIds, :none), :ids)',
    ];
    if (options.completes) {
      sets.push('#status = :approved', 'decidedBy = :by', 'decidedAt = :at');
      Object.assign(values, { ':approved': 'approved', ':by': grant.by, ':at': at });
    }
    // The count the approver saw must still be the count: a concurrent approval refuses this write, and the
    // caller counts again. Nobody already among the approvers (by any of their identities) is added twice.
    const count =
      options.expected === 0
        ? '(attribute_not_exists(approvals) OR size(approvals) = :expected)'
        : 'size(approvals) = :expected';
    const notYet = ids.map((_, index) => `NOT contains(approverIds, :id${index})`);
    ids.forEach((value, index) => {
      values[`:id${index}`] = value;
    });
    return this.updatePending('UpdateItem(approval grant)', id, {
      update: `SET ${sets.join(', ')}`,
      condition: ['#status = :pending', 'expiresAt > :now', count, ...notYet].join(' AND '),
      values,
    });
  }

  /**
   * One conditional update of a pending approval: the record after it when it applied, else the
   * record as it was (the one condition failure tells why: decided, expired, another run's).
   */
  private updatePending(
    operation: string,
    id: string,
    change: { update: string; condition: string; values: Record<string, unknown> },
  ): Promise<DecideResult> {
    return storeCall(operation, async () => {
      try {
        const result = await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { id },
            UpdateExpression: change.update,
            ConditionExpression: change.condition,
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: change.values,
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { decided: true, approval: recordOf(result.Attributes ?? {}) };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        const returned = oldItemOf(error);
        return { decided: false, approval: returned ? recordOf(returned) : await this.get(id) };
      }
    });
  }
}
