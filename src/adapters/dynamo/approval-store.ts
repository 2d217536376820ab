import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError } from '../../domain/errors.js';
import type { ApprovalRecord, ApprovalStore, DecideResult } from '../../domain/ports.js';
import type { ApprovalStatus } from '../../domain/run.js';
import { epochSeconds, isConditionalCheckFailed, oldItemOf, storeCall, ttlAfterDays } from './errors.js';
import { TTL_ATTRIBUTE } from './table-layout.js';
import { putIfAbsent } from './put-if-absent.js';

const APPROVAL_RETENTION_DAYS = 400;

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
