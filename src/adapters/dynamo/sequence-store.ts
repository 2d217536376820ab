import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SequenceStore } from '../../domain/ports.js';
import { StoreError, storeCall } from './errors.js';

/** The counters share the locks table: pk SEQ#<repo>, sk COUNTER (see table-layout.ts). */
export class DynamoSequenceStore implements SequenceStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly locksTableName: string,
  ) {}

  async next(repository: string): Promise<number> {
    const result = await storeCall('UpdateItem(sequence)', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.locksTableName,
          // GitHub treats owner/name case-insensitively; so does lockKeyFor.
          Key: { pk: `SEQ#${repository.toLowerCase()}`, sk: 'COUNTER' },
          UpdateExpression: 'ADD #value :one',
          ExpressionAttributeNames: { '#value': 'value' },
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    const value = result.Attributes?.value;
    if (typeof value !== 'number') throw new StoreError(`Sequence counter for ${repository} returned no number`);
    return value;
  }
}
