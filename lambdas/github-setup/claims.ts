import { createHash } from 'node:crypto';
import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, storeCall } from '../../src/adapters/dynamo/errors.js';
import { putIfAbsent } from '../../src/adapters/dynamo/put-if-absent.js';

/**
 * The one-time use of the setup link. The first callback to claim it goes on to create the GitHub App
 * and store its credentials; every later use of the same link is refused. A failed attempt gives the
 * claim back, so the link can be tried again.
 */
export type SetupClaimState = 'open' | 'claimed' | 'connected';

export interface SetupClaims {
  /** One conditional write: true for the caller that took the link, false when it was already taken. */
  claim(key: string, at: Date): Promise<boolean>;
  /** The credentials are stored: the link stays used up for good. */
  markConnected(key: string, at: Date, appSlug: string): Promise<void>;
  release(key: string): Promise<void>;
  state(key: string): Promise<SetupClaimState>;
}

/** Every claim item's key starts with this: the setup function's role may touch no other item. */
export const SETUP_CLAIM_PREFIX = 'github-setup#';

/** The claim's key: derived from the token, so putting a new token into the setup secret opens a new link. */
export function setupClaimKey(token: string): string {
  return `${SETUP_CLAIM_PREFIX}${createHash('sha256').update(token).digest('hex')}`;
}

/**
 * In the deliveries table, next to the webhook deliveries and the one-time sign-in links. No TTL on
 * purpose: a clean-up that deleted the item would open the link again.
 */
export class DynamoSetupClaims implements SetupClaims {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async claim(key: string, at: Date): Promise<boolean> {
    const item = { id: key, setup: 'claimed', claimedAt: at.toISOString() };
    return putIfAbsent(this.client, this.tableName, item, 'PutItem(setup claim)');
  }

  async markConnected(key: string, at: Date, appSlug: string): Promise<void> {
    await storeCall('UpdateItem(setup claim)', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: key },
          UpdateExpression: 'SET setup = :connected, connectedAt = :at, appSlug = :slug',
          ExpressionAttributeValues: { ':connected': 'connected', ':at': at.toISOString(), ':slug': appSlug },
        }),
      ),
    );
  }

  async release(key: string): Promise<void> {
    // Only an unfinished claim is given back: a connected link stays used up.
    await storeCall('DeleteItem(setup claim)', async () => {
      try {
        await this.client.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { id: key },
            ConditionExpression: 'setup = :claimed',
            ExpressionAttributeValues: { ':claimed': 'claimed' },
          }),
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    });
  }

  async state(key: string): Promise<SetupClaimState> {
    const result = await storeCall('GetItem(setup claim)', () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { id: key }, ConsistentRead: true })),
    );
    if (!result.Item) return 'open';
    return result.Item.setup === 'connected' ? 'connected' : 'claimed';
  }
}
