import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotFoundError } from '../../domain/errors.js';
import type { DeliveryStore } from '../../domain/ports.js';
import { isConditionalCheckFailed, storeCall, ttlAfterDays } from './errors.js';
import { TTL_ATTRIBUTE } from './table-layout.js';
import { putIfAbsent } from './put-if-absent.js';

/** GitHub lets a delivery be redelivered for a limited time; 90 days is well past it. */
const DELIVERY_RETENTION_DAYS = 90;

export class DynamoDeliveryStore implements DeliveryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async claim(deliveryId: string, at: Date): Promise<boolean> {
    const item = {
      id: deliveryId,
      claimedAt: at.toISOString(),
      [TTL_ATTRIBUTE]: ttlAfterDays(at, DELIVERY_RETENTION_DAYS),
    };
    return putIfAbsent(this.client, this.tableName, item, 'PutItem(delivery)');
  }

  async attachRun(deliveryId: string, runId: string): Promise<void> {
    await storeCall('UpdateItem(delivery run)', async () => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { id: deliveryId },
            UpdateExpression: 'SET runId = :runId',
            // Without the claim the item would be created with no clean-up time.
            ConditionExpression: 'attribute_exists(id)',
            ExpressionAttributeValues: { ':runId': runId },
          }),
        );
      } catch (error) {
        if (isConditionalCheckFailed(error)) throw new NotFoundError(`Delivery ${deliveryId} was never claimed`);
        throw error;
      }
    });
  }

  async get(deliveryId: string): Promise<{ deliveryId: string; runId?: string; claimedAt?: string } | undefined> {
    const result = await storeCall('GetItem(delivery)', () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { id: deliveryId }, ConsistentRead: true })),
    );
    if (!result.Item) return undefined;
    const runId = result.Item.runId;
    const claimedAt = result.Item.claimedAt;
    return {
      deliveryId,
      ...(typeof runId === 'string' ? { runId } : {}),
      ...(typeof claimedAt === 'string' ? { claimedAt } : {}),
    };
  }

  async release(deliveryId: string): Promise<void> {
    await storeCall('DeleteItem(delivery)', () =>
      this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { id: deliveryId } })),
    );
  }
}
