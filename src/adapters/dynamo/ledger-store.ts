import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AppliedRecord, PushRecord } from '../../domain/change-range.js';
import type { DeploymentLedger } from '../../domain/ports.js';
import { isConditionalCheckFailed, storeCall } from './errors.js';

/**
 * The DeploymentLedger in the locks table (see table-layout.ts): pk `PUSHED#<repo>#<head>` / sk `PUSH`, and
 * pk `APPLIED#<repo>#<env>` / sk `APPLIED`. Each write is one conditional single-item update (dynalite has no
 * transactions). No TTL: what an environment applied, and who pushed what it has not applied yet, stay true
 * however old they are (a captured push replayed years later is still recognised).
 */
export class DynamoDeploymentLedger implements DeploymentLedger {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly locksTableName: string,
  ) {}

  async recordPush(repository: string, push: PushRecord): Promise<void> {
    const names = [...push.logins.map((login) => `login:${login.toLowerCase()}`), ...push.emails.map(emailKey)];
    await storeCall('UpdateItem(push record)', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.locksTableName,
          Key: { pk: pushKey(repository, push.head), sk: 'PUSH' },
          // The first push of a head says where the branch was before it; a later one only adds its pusher.
          UpdateExpression:
            names.length > 0
              ? 'SET head = :head, firstAt = if_not_exists(firstAt, :at), #before = if_not_exists(#before, :before) ' +
                'ADD pushers :names'
              : 'SET head = :head, firstAt = if_not_exists(firstAt, :at), #before = if_not_exists(#before, :before)',
          ExpressionAttributeNames: { '#before': 'before' },
          ExpressionAttributeValues: {
            ':head': push.head,
            ':at': push.at,
            ':before': push.before ?? CREATED,
            ...(names.length > 0 ? { ':names': new Set(names) } : {}),
          },
        }),
      ),
    );
  }

  async getPush(repository: string, head: string): Promise<PushRecord | undefined> {
    const result = await storeCall('GetItem(push record)', () =>
      this.client.send(
        new GetCommand({
          TableName: this.locksTableName,
          Key: { pk: pushKey(repository, head), sk: 'PUSH' },
          ConsistentRead: true,
        }),
      ),
    );
    const item = result.Item;
    if (!item) return undefined;
    const names = item.pushers instanceof Set ? [...(item.pushers as Set<string>)] : [];
    const before = typeof item.before === 'string' && item.before !== CREATED ? item.before : undefined;
    return {
      head,
      ...(before ? { before } : {}),
      logins: names.filter((name) => name.startsWith('login:')).map((name) => name.slice('login:'.length)),
      emails: names.filter((name) => name.startsWith('email:')).map((name) => name.slice('email:'.length)),
      at: typeof item.firstAt === 'string' ? item.firstAt : '',
    };
  }

  async getApplied(repository: string, environment: string): Promise<AppliedRecord | undefined> {
    const result = await storeCall('GetItem(applied record)', () =>
      this.client.send(
        new GetCommand({
          TableName: this.locksTableName,
          Key: { pk: appliedKey(repository, environment), sk: 'APPLIED' },
          ConsistentRead: true,
        }),
      ),
    );
    const item = result.Item;
    if (!item || typeof item.sha !== 'string' || typeof item.sequence !== 'number') return undefined;
    return {
      environment,
      sha: item.sha,
      runId: String(item.runId ?? ''),
      sequence: item.sequence,
      at: String(item.at ?? ''),
    };
  }

  async recordApplied(repository: string, applied: AppliedRecord): Promise<boolean> {
    return storeCall('UpdateItem(applied record)', async () => {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.locksTableName,
            Key: { pk: appliedKey(repository, applied.environment), sk: 'APPLIED' },
            UpdateExpression: 'SET sha = :sha, runId = :runId, #sequence = :sequence, #at = :at',
            // A late write of an older run's apply never replaces a newer one (runs apply in push order).
            ConditionExpression: 'attribute_not_exists(pk) OR #sequence <= :sequence',
            ExpressionAttributeNames: { '#sequence': 'sequence', '#at': 'at' },
            ExpressionAttributeValues: {
              ':sha': applied.sha,
              ':runId': applied.runId,
              ':sequence': applied.sequence,
              ':at': applied.at,
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
}

/** A push that created the branch has no `before`; stored as this marker (an empty string is not a key value). */
const CREATED = 'created';

function pushKey(repository: string, head: string): string {
  return `PUSHED#${repository.toLowerCase()}#${head.toLowerCase()}`;
}

function appliedKey(repository: string, environment: string): string {
  return `APPLIED#${repository.toLowerCase()}#${environment}`;
}

function emailKey(email: string): string {
  return `email:${email.toLowerCase()}`;
}
