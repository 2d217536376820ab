import { randomBytes } from 'node:crypto';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type {
  AcquireResult,
  Clock,
  LockClaim,
  LockEvent,
  LockHolder,
  LockStore,
  QueueEntry,
} from '../../domain/ports.js';
import { systemClock } from '../../domain/ports.js';
import { StoreError, isConditionalCheckFailed, oldItemOf, storeCall, ttlAfterDays } from './errors.js';
import { TTL_ATTRIBUTE } from './table-layout.js';

const HOLDER_SORT_KEY = 'HOLDER';
const QUEUE_PREFIX = 'QUEUE#';
const EVENT_PREFIX = 'EVENT#';
const LOCK_PREFIX = 'LOCK#';
/** Per lock, the last fencing number issued; kept apart from HOLDER so a release never resets it. */
const FENCE_SORT_KEY = 'FENCE';
/** Twelve digits keep the lexical order of the sort key equal to the numeric order of sequences. */
const SEQUENCE_DIGITS = 12;
/** Long after any lease or wait could matter; only so abandoned items do not pile up. */
const HOLDER_RETENTION_DAYS = 30;
const QUEUE_RETENTION_DAYS = 90;
const EVENT_RETENTION_DAYS = 400;
/**
 * Without ALL_OLD on a failed condition (dynalite), the holder is read afterwards and may have let go
 * in between; then the put is tried again. Each round either wins or finds a holder, so only a lock
 * changing hands faster than one round trip, again and again, ever reaches this bound.
 */
const ACQUIRE_ATTEMPTS = 25;

export function lockPartitionKey(lockKey: string): string {
  return `${LOCK_PREFIX}${lockKey}`;
}

export function queueSortKey(sequence: number, runId: string): string {
  return `${QUEUE_PREFIX}${String(sequence).padStart(SEQUENCE_DIGITS, '0')}#${runId}`;
}

function holderOf(item: Record<string, unknown>): LockHolder {
  return {
    runId: item.runId as string,
    sequence: item.sequence as number,
    executionName: item.executionName as string,
    acquiredAt: item.acquiredAt as string,
    leaseExpiresAt: item.leaseExpiresAt as number,
    // Holders written before fencing numbers existed read as 0; every new holder gets 1 or more.
    fence: typeof item.fence === 'number' ? item.fence : 0,
  };
}

function queueEntryOf(item: Record<string, unknown>): QueueEntry {
  const entry: QueueEntry = {
    runId: item.runId as string,
    sequence: item.sequence as number,
    executionName: item.executionName as string,
    enqueuedAt: item.enqueuedAt as string,
  };
  if (typeof item.taskToken === 'string') entry.taskToken = item.taskToken;
  if (typeof item.leaseSeconds === 'number') entry.leaseSeconds = item.leaseSeconds;
  return entry;
}

function eventOf(item: Record<string, unknown>): LockEvent {
  const event: LockEvent = { at: item.at as string, kind: item.kind as LockEvent['kind'], runId: item.runId as string };
  if (typeof item.by === 'string') event.by = item.by;
  if (typeof item.reason === 'string') event.reason = item.reason;
  return event;
}

/**
 * When a put may replace the HOLDER item. A fresh claim (no fence: the store issues one) takes a free
 * lock or an expired lease of another run, never the caller's own live hold: two grants to the same
 * run racing from the same stale read would otherwise each issue a number, and the later put would
 * silently replace the number the run had been told. A claim that keeps its fence refreshes only that
 * very hold (same run, same number) or a free lock; it never takes over someone else's lease with an
 * old number, so a stale refresh can never bring a number back that a later holder replaced.
 */
function acquireCondition(claim: LockClaim): string {
  if (claim.fence === undefined) return 'attribute_not_exists(pk) OR (leaseExpiresAt < :now AND runId <> :me)';
  // Holders written before fencing numbers existed carry no fence attribute and read as 0.
  const sameHold = claim.fence === 0 ? '(fence = :fence OR attribute_not_exists(fence))' : 'fence = :fence';
  return `attribute_not_exists(pk) OR (runId = :me AND ${sameHold})`;
}

export class DynamoLockStore implements LockStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async get(lockKey: string): Promise<LockHolder | undefined> {
    const result = await storeCall('GetItem(lock)', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(lockKey), sk: HOLDER_SORT_KEY },
          ConsistentRead: true,
        }),
      ),
    );
    return result.Item ? holderOf(result.Item) : undefined;
  }

  async tryAcquire(lockKey: string, claim: LockClaim, nowEpochSeconds: number): Promise<AcquireResult> {
    const condition = acquireCondition(claim);
    return storeCall('PutItem(lock)', async () => {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        // A number issued to a put that then loses its condition is simply never used: numbers only
        // grow. Drawn per attempt, so a retry after someone else's whole grant and release still
        // writes a number above theirs.
        const holder: LockHolder = { ...claim, fence: claim.fence ?? (await this.nextFence(lockKey)) };
        try {
          const result = await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: {
                pk: lockPartitionKey(lockKey),
                sk: HOLDER_SORT_KEY,
                lockKey,
                ...holder,
                [TTL_ATTRIBUTE]: holder.leaseExpiresAt + HOLDER_RETENTION_DAYS * 86_400,
              },
              ConditionExpression: condition,
              ExpressionAttributeValues:
                claim.fence === undefined
                  ? { ':now': nowEpochSeconds, ':me': holder.runId }
                  : { ':me': holder.runId, ':fence': claim.fence },
              ReturnValues: 'ALL_OLD',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          return result.Attributes
            ? { acquired: true, holder, previous: holderOf(result.Attributes) }
            : { acquired: true, holder };
        } catch (error) {
          if (!isConditionalCheckFailed(error)) throw error;
          const returned = oldItemOf(error);
          const current = returned ? holderOf(returned) : await this.get(lockKey);
          if (current) return { acquired: false, holder: current };
          // Released between our put and our read: the lock is free again, so try again.
        }
      }
      throw new StoreError(`Lock ${lockKey} kept changing hands; gave up acquiring after ${ACQUIRE_ATTEMPTS} attempts`);
    });
  }

  /** One atomic ADD on the lock's FENCE item: every caller gets a number nobody else got. */
  private async nextFence(lockKey: string): Promise<number> {
    const result = await storeCall('UpdateItem(lock fence)', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(lockKey), sk: FENCE_SORT_KEY },
          UpdateExpression: 'ADD fence :one',
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    const fence = result.Attributes?.fence;
    if (typeof fence !== 'number') throw new StoreError(`Lock ${lockKey}: the fencing counter returned no number`);
    return fence;
  }

  async renew(lockKey: string, runId: string, leaseExpiresAt: number): Promise<boolean> {
    return storeCall('UpdateItem(lock lease)', async () => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: lockPartitionKey(lockKey), sk: HOLDER_SORT_KEY },
            UpdateExpression: 'SET leaseExpiresAt = :lease, #ttl = :ttl',
            ConditionExpression: 'runId = :me',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: {
              ':lease': leaseExpiresAt,
              ':me': runId,
              ':ttl': leaseExpiresAt + HOLDER_RETENTION_DAYS * 86_400,
            },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    });
  }

  async release(lockKey: string, runId: string): Promise<boolean> {
    return storeCall('DeleteItem(lock)', async () => {
      try {
        await this.client.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: lockPartitionKey(lockKey), sk: HOLDER_SORT_KEY },
            ConditionExpression: 'runId = :me',
            ExpressionAttributeValues: { ':me': runId },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    });
  }

  async forceRelease(lockKey: string): Promise<LockHolder | undefined> {
    const result = await storeCall('DeleteItem(lock, forced)', () =>
      this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(lockKey), sk: HOLDER_SORT_KEY },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return result.Attributes ? holderOf(result.Attributes) : undefined;
  }

  async enqueue(lockKey: string, entry: QueueEntry): Promise<void> {
    await storeCall('PutItem(queue entry)', async () => {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: lockPartitionKey(lockKey),
              sk: queueSortKey(entry.sequence, entry.runId),
              ...entry,
              [TTL_ATTRIBUTE]: ttlAfterDays(new Date(entry.enqueuedAt), QUEUE_RETENTION_DAYS),
            },
            // A repeated enqueue (a retried intake) must not wipe a task token already stored.
            ConditionExpression: 'attribute_not_exists(sk)',
          }),
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    });
  }

  async setWaiterToken(
    lockKey: string,
    runId: string,
    sequence: number,
    taskToken: string,
    leaseSeconds?: number,
  ): Promise<boolean> {
    const values: Record<string, unknown> = { ':token': taskToken };
    if (leaseSeconds !== undefined) values[':lease'] = leaseSeconds;
    return storeCall('UpdateItem(queue token)', async () => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: lockPartitionKey(lockKey), sk: queueSortKey(sequence, runId) },
            UpdateExpression:
              leaseSeconds === undefined ? 'SET taskToken = :token' : 'SET taskToken = :token, leaseSeconds = :lease',
            ConditionExpression: 'attribute_exists(sk)',
            ExpressionAttributeValues: values,
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    });
  }

  async takeWaiterToken(lockKey: string, runId: string, sequence: number): Promise<string | undefined> {
    return storeCall('UpdateItem(take queue token)', async () => {
      try {
        const result = await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: lockPartitionKey(lockKey), sk: queueSortKey(sequence, runId) },
            UpdateExpression: 'REMOVE taskToken',
            ConditionExpression: 'attribute_exists(taskToken)',
            ReturnValues: 'UPDATED_OLD',
          }),
        );
        const token = result.Attributes?.taskToken;
        return typeof token === 'string' ? token : undefined;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return undefined;
        throw error;
      }
    });
  }

  async listQueue(lockKey: string): Promise<QueueEntry[]> {
    return (await this.queryPrefix(lockKey, QUEUE_PREFIX)).map(queueEntryOf);
  }

  async dequeue(lockKey: string, runId: string, sequence: number): Promise<void> {
    await storeCall('DeleteItem(queue entry)', () =>
      this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: lockPartitionKey(lockKey), sk: queueSortKey(sequence, runId) },
        }),
      ),
    );
  }

  async recordEvent(lockKey: string, event: LockEvent): Promise<void> {
    await storeCall('PutItem(lock event)', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: lockPartitionKey(lockKey),
            // The random suffix keeps two events in the same millisecond apart.
            sk: `${EVENT_PREFIX}${event.at}#${randomBytes(4).toString('hex')}`,
            ...event,
            [TTL_ATTRIBUTE]: ttlAfterDays(this.clock.now(), EVENT_RETENTION_DAYS),
          },
        }),
      ),
    );
  }

  async listEvents(lockKey: string): Promise<LockEvent[]> {
    return (await this.queryPrefix(lockKey, EVENT_PREFIX)).map(eventOf);
  }

  async listHeld(): Promise<Array<{ lockKey: string; holder: LockHolder }>> {
    const held: Array<{ lockKey: string; holder: LockHolder }> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await storeCall('Scan(held locks)', () =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            FilterExpression: 'sk = :holder',
            ExpressionAttributeValues: { ':holder': HOLDER_SORT_KEY },
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        held.push({ lockKey: (item.pk as string).slice(LOCK_PREFIX.length), holder: holderOf(item) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return held;
  }

  private async queryPrefix(lockKey: string, prefix: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await storeCall(`Query(${prefix})`, () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': lockPartitionKey(lockKey), ':prefix': prefix },
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}
