/**
 * `tfgate stop-all`: before `cdk destroy` (or a redeploy that replaces the state machine), stop every
 * execution of the stack's state machine. Step Functions keeps a state machine DELETING while executions
 * run (a run waiting for a lock or an approval may wait for days), and a new one of the same name cannot
 * be created meanwhile. Each stopped execution ends ABORTED; the stack's execution-ended rule hands that
 * event to the pipeline function, which frees the run's locks and records why (the reconciler does the
 * same within five minutes if an event is lost), so the stack must still be deployed while this runs.
 */
import { DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  type SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { TfgateError } from '../domain/errors.js';
import { outputsByConstruct } from '../doctor/stack.js';

export class StopAllError extends TfgateError {
  override name = 'StopAllError';
}

/** StopExecution's `error` is at most 256 characters, `cause` at most 32,768 (the API reference). */
export const STOP_ERROR = 'tfgate.StackStopping';
const MAX_CAUSE = 32_768;
/** ListExecutions takes 1–1000 per page. */
const PAGE_SIZE = 100;
/** New runs may start while stopping (a push arrives): list and stop again, a few times. */
const MAX_ROUNDS = 5;

export interface StopAllDeps {
  cloudFormation: CloudFormationClient;
  sfn: SFNClient;
  sleep: (ms: number) => Promise<void>;
  progress: (line: string) => void;
  /** How long to wait for stopped executions to end (default 2 minutes), and how often to look. */
  waitMs?: number;
  pollMs?: number;
}

export interface StopAllResult {
  stateMachineArn: string;
  stopped: string[];
  /** Executions still running at the end (new runs kept arriving, or one would not end): say so, exit 1. */
  stillRunning: string[];
}

/** The state machine of the stack (or of one Tfgate construct in it), from its `StateMachineArn` output. */
export async function stateMachineOf(
  cloudFormation: CloudFormationClient,
  stackName: string,
  construct?: string,
): Promise<string> {
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = Stacks?.[0];
  if (!stack) throw new StopAllError(`no stack ${stackName} in this account and region`);
  const groups = outputsByConstruct(stack);
  const scopes = [...groups.keys()].filter((scope) => groups.get(scope)?.StateMachineArn);
  const scope = construct ?? (scopes.length === 1 ? scopes[0] : undefined);
  if (scope === undefined)
    throw new StopAllError(
      scopes.length === 0
        ? `stack ${stackName} has no StateMachineArn output: is it a tfgate stack?`
        : `stack ${stackName} holds several Tfgate constructs (${scopes.join(', ')}): pass --construct ID`,
    );
  const arn = groups.get(scope)?.StateMachineArn;
  if (!arn) throw new StopAllError(`stack ${stackName} has no StateMachineArn output for construct ${scope}`);
  return arn;
}

async function running(sfn: SFNClient, stateMachineArn: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn,
        statusFilter: 'RUNNING',
        maxResults: PAGE_SIZE,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const execution of page.executions ?? []) if (execution.executionArn) arns.push(execution.executionArn);
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

export async function stopAllExecutions(
  deps: StopAllDeps,
  target: { stateMachineArn: string; reason: string },
): Promise<StopAllResult> {
  const cause = `stopped by tfgate stop-all: ${target.reason}`.slice(0, MAX_CAUSE);
  const stopped: string[] = [];
  const waitMs = deps.waitMs ?? 120_000;
  const pollMs = deps.pollMs ?? 3_000;
  let left: string[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const found = await running(deps.sfn, target.stateMachineArn);
    if (found.length === 0) return { stateMachineArn: target.stateMachineArn, stopped, stillRunning: [] };
    for (const executionArn of found) {
      try {
        await deps.sfn.send(new StopExecutionCommand({ executionArn, error: STOP_ERROR, cause }));
      } catch (error) {
        // Ended (or gone) between the list and the stop: nothing left to stop.
        if ((error as { name?: string }).name !== 'ExecutionDoesNotExist') throw error;
      }
      stopped.push(executionArn);
      deps.progress(`stopped ${executionArn.split(':').at(-1)}`);
    }
    // Wait until each has ended: only then does the execution-ended event free its locks.
    left = found;
    for (let waited = 0; left.length > 0 && waited <= waitMs; waited += pollMs) {
      const statuses = await Promise.all(
        left.map(async (executionArn) => {
          const { status } = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
          return { executionArn, status };
        }),
      );
      left = statuses.filter((s) => s.status === 'RUNNING').map((s) => s.executionArn);
      if (left.length > 0) await deps.sleep(pollMs);
    }
  }
  const stillRunning = [...new Set([...left, ...(await running(deps.sfn, target.stateMachineArn))])];
  return { stateMachineArn: target.stateMachineArn, stopped, stillRunning };
}
