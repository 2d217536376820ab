import {
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError, NotFoundError, TfgateError } from '../../domain/errors.js';
import type { RunPatch, RunStore, StagePatch } from '../../domain/ports.js';
import { runListCursor, TERMINAL_RUN_STATUSES, type Run, type Stage, type StageApproval } from '../../domain/run.js';
import {
  runPredecessors,
  runTransitionRefused,
  stagePredecessors,
  stageTransitionRefused,
} from '../../domain/transitions.js';
import { isConditionalCheckFailed, storeCall, ttlAfterDays } from './errors.js';
import { RUNS_BY_CREATED_INDEX, TTL_ATTRIBUTE } from './table-layout.js';
import { putIfAbsent } from './put-if-absent.js';

const RUN_RETENTION_DAYS = 400;

/** The stage moved on, or already shows as many approvals: a normal outcome, not a failure. */
class ApprovalProgressNotShown extends TfgateError {}
/** Every run shares one GSI partition so that the index can order all runs by creation time. */
const LIST_KEY = 'run';

/** The stored shape: stages keyed by environment so one UpdateItem can touch one stage. */
interface RunItem extends Omit<Run, 'stages'> {
  stages: Record<string, Stage>;
  environmentOrder: string[];
  listKey: string;
  createdKey: string;
  [TTL_ATTRIBUTE]: number;
}

function toItem(run: Run): RunItem {
  return {
    ...run,
    stages: Object.fromEntries(run.stages.map((stage) => [stage.environment, stage])),
    environmentOrder: run.stages.map((stage) => stage.environment),
    listKey: LIST_KEY,
    createdKey: runListCursor(run),
    [TTL_ATTRIBUTE]: ttlAfterDays(new Date(run.createdAt), RUN_RETENTION_DAYS),
  };
}

function fromItem(item: Record<string, unknown>): Run {
  const {
    stages,
    environmentOrder,
    listKey: _listKey,
    createdKey: _createdKey,
    [TTL_ATTRIBUTE]: _ttl,
    ...run
  } = item as unknown as RunItem;
  return {
    ...run,
    stages: environmentOrder.flatMap((environment) => {
      const stage = stages[environment];
      return stage ? [stage] : [];
    }),
  };
}

export class DynamoRunStore implements RunStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(run: Run): Promise<void> {
    if (!(await putIfAbsent(this.client, this.tableName, toItem(run), 'PutItem(run)'))) {
      throw new AlreadyExistsError(`Run ${run.id} already exists`);
    }
  }

  async get(id: string): Promise<Run | undefined> {
    const result = await storeCall('GetItem(run)', () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true })),
    );
    return result.Item ? fromItem(result.Item) : undefined;
  }

  async list(options: { limit?: number; before?: string } = {}): Promise<Run[]> {
    const runs: Run[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const remaining = options.limit === undefined ? undefined : options.limit - runs.length;
      const page = await storeCall('Query(runs byCreated)', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: RUNS_BY_CREATED_INDEX,
            KeyConditionExpression:
              options.before === undefined ? 'listKey = :listKey' : 'listKey = :listKey AND createdKey < :before',
            ExpressionAttributeValues: {
              ':listKey': LIST_KEY,
              ...(options.before === undefined ? {} : { ':before': options.before }),
            },
            ScanIndexForward: false,
            Limit: remaining,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      runs.push(...(page.Items ?? []).map(fromItem));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (options.limit === undefined || runs.length < options.limit));
    return runs;
  }

  async listActive(): Promise<Run[]> {
    const terminal = [...TERMINAL_RUN_STATUSES];
    const placeholders = terminal.map((_, index) => `:terminal${index}`);
    const runs: Run[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await storeCall('Scan(active runs)', () =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            FilterExpression: `NOT (#status IN (${placeholders.join(', ')}))`,
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: Object.fromEntries(
              terminal.map((status, index) => [placeholders[index], status]),
            ),
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      runs.push(...(page.Items ?? []).map(fromItem));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return runs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run> {
    const sets = [
      'stages.#env.#status = :status',
      'stages.#env.transitions = list_append(stages.#env.transitions, :transition)',
      'updatedAt = :at',
    ];
    const names: Record<string, string> = { '#env': environment, '#status': 'status' };
    const values: Record<string, unknown> = {
      ':status': patch.status,
      ':transition': [{ status: patch.status, at: at.toISOString() }],
      ':at': at.toISOString(),
    };
    for (const field of ['plan', 'approval', 'error'] as const) {
      if (patch[field] === undefined) continue;
      sets.push(`stages.#env.#${field} = :${field}`);
      names[`#${field}`] = field;
      values[`:${field}`] = patch[field];
    }
    // The allowed transitions (domain/transitions.ts) are checked in the same write as the change.
    const from = stagePredecessors(patch.status);
    for (const [index, status] of from.entries()) values[`:from${index}`] = status;
    const condition =
      `attribute_exists(stages.#env) AND stages.#env.#status IN ` +
      `(${from.map((_, index) => `:from${index}`).join(', ')})`;
    return this.update(runId, `SET ${sets.join(', ')}`, condition, names, values, (run) => {
      const stage = run?.stages.find((s) => s.environment === environment);
      if (!run || !stage) return new NotFoundError(`Run ${runId} has no stage ${environment}`);
      return stageTransitionRefused(runId, environment, stage.status, patch.status);
    });
  }

  async recordApprovalProgress(
    runId: string,
    environment: string,
    approval: StageApproval,
    at: Date,
  ): Promise<boolean> {
    const shown = approval.approvals?.length ?? 0;
    try {
      await this.update(
        runId,
        'SET stages.#env.#approval = :approval, updatedAt = :at',
        'stages.#env.#status = :waiting AND stages.#env.#approval.id = :id AND ' +
          '(attribute_not_exists(stages.#env.#approval.approvals) OR size(stages.#env.#approval.approvals) < :shown)',
        { '#env': environment, '#status': 'status', '#approval': 'approval' },
        {
          ':approval': approval,
          ':at': at.toISOString(),
          ':waiting': 'awaiting_approval',
          ':id': approval.id,
          ':shown': shown,
        },
        () => new ApprovalProgressNotShown('the stage no longer waits for this approval'),
      );
      return true;
    } catch (error) {
      if (error instanceof ApprovalProgressNotShown) return false;
      throw error;
    }
  }

  async updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run> {
    const sets = ['updatedAt = :at'];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':at': at.toISOString() };
    if (patch.status !== undefined) {
      sets.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = patch.status;
    }
    if (patch.error !== undefined) {
      sets.push('#error = :error');
      names['#error'] = 'error';
      values[':error'] = patch.error;
    }
    if (patch.stop !== undefined) {
      sets.push('#stop = :stop');
      names['#stop'] = 'stop';
      values[':stop'] = patch.stop;
    }
    if (patch.note !== undefined) {
      sets.push('notes = list_append(if_not_exists(notes, :noNotes), :note)');
      values[':noNotes'] = [];
      values[':note'] = [patch.note];
    }
    let condition = 'attribute_exists(id)';
    if (patch.status !== undefined) {
      const from = runPredecessors(patch.status);
      for (const [index, status] of from.entries()) values[`:from${index}`] = status;
      condition += ` AND #status IN (${from.map((_, index) => `:from${index}`).join(', ')})`;
    }
    const to = patch.status;
    return this.update(runId, `SET ${sets.join(', ')}`, condition, names, values, (run) =>
      !run ? new NotFoundError(`Run ${runId} not found`) : runTransitionRefused(runId, run.status, to ?? run.status),
    );
  }

  private async update(
    runId: string,
    updateExpression: string,
    conditionExpression: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
    refusal: (current: Run | undefined) => Error,
  ): Promise<Run> {
    return storeCall('UpdateItem(run)', async () => {
      try {
        const result = await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { id: runId },
            UpdateExpression: updateExpression,
            ConditionExpression: conditionExpression,
            ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return fromItem(result.Attributes ?? {});
      } catch (error) {
        // Missing, or a transition the domain does not allow: which one is read back on this path only.
        if (isConditionalCheckFailed(error)) throw refusal(await this.get(runId));
        throw error;
      }
    });
  }
}
