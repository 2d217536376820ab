import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RequestCounters, SessionRevocations } from '../../domain/ports.js';
import { isConditionalCheckFailed, storeCall } from './errors.js';
import { putIfAbsent } from './put-if-absent.js';
import { TTL_ATTRIBUTE } from './table-layout.js';

/**
 * The sign-in's own items in the deliveries table (the table every claim lives in, so no new table and no new
 * grant): `session-revoked:<session id>`, written once at sign-out and read on every signed-in request, and
 * `sign-in-rate:<scope>:<sha256>:<window end>`, one counter per address or client and window, counted by a
 * conditional update so the limit holds across instances. TTL only clears them away after they stop mattering.
 */
export class DynamoSignInStore implements SessionRevocations, RequestCounters {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async revoke(sessionId: string, until: number, at: Date): Promise<void> {
    // A second sign-out of the same session finds the record there: nothing to change.
    await putIfAbsent(
      this.client,
      this.tableName,
      { id: revokedKey(sessionId), revokedAt: at.toISOString(), [TTL_ATTRIBUTE]: until + 3600 },
      'PutItem(session revoked)',
    );
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    // Consistent: a sign-out must hold for the very next request, on any instance.
    const result = await storeCall('GetItem(session revoked)', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { id: revokedKey(sessionId) },
          ConsistentRead: true,
          ProjectionExpression: 'id',
        }),
      ),
    );
    return result.Item !== undefined;
  }

  async take(key: string, limit: number, windowEndsAt: number): Promise<boolean> {
    return storeCall('UpdateItem(sign-in rate)', async () => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { id: `sign-in-rate:${key}:${windowEndsAt}` },
            UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(hits) OR hits < :limit',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': windowEndsAt + 3600 },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    });
  }
}

function revokedKey(sessionId: string): string {
  return `session-revoked:${sessionId}`;
}
