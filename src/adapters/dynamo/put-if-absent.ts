import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, storeCall } from './errors.js';

/**
 * Writes an item only if no item has its `id` yet: one conditional put, the way every claim and every
 * record that must not be overwritten is created. Losing to an existing item is a normal result (false),
 * not an error; any other failure goes through storeCall.
 */
export async function putIfAbsent(
  client: DynamoDBDocumentClient,
  tableName: string,
  item: object,
  operation: string,
): Promise<boolean> {
  return storeCall(operation, async () => {
    try {
      await client.send(
        new PutCommand({ TableName: tableName, Item: { ...item }, ConditionExpression: 'attribute_not_exists(id)' }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  });
}
