/**
 * `tfgate stop-all`: every execution of the stack's state machine is stopped (so cdk destroy does not leave
 * it DELETING for days), each request held to the API's documented constraints, new arrivals stopped too.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { runStopAllCommand } from '../../bin/commands/stop-all.js';

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:tfgate-prod-pipeline';
const execution = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:tfgate-prod-pipeline:${name}`;

const cfn = mockClient(CloudFormationClient);
const sfn = mockClient(SFNClient);

function run(options: { construct?: string; reason?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = runStopAllCommand(
    { stack: 'TfgateProd', ...options },
    {
      clients: async () => ({ cloudFormation: new CloudFormationClient({}), sfn: new SFNClient({}) }),
      sleep: async () => undefined,
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
    },
  );
  return code.then((exit) => ({ exit, out: out.join(''), err: err.join('') }));
}

function stackWith(outputs: Record<string, string>) {
  cfn.on(DescribeStacksCommand, { StackName: 'TfgateProd' }).resolves({
    Stacks: [
      {
        StackName: 'TfgateProd',
        CreationTime: new Date(),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
}

/** Holds every request to what the API reference documents. */
function checkRequests() {
  for (const call of sfn.commandCalls(ListExecutionsCommand)) {
    const input = call.args[0].input;
    expect(input.stateMachineArn).toBe(MACHINE);
    expect(input.statusFilter).toBe('RUNNING');
    expect(input.maxResults).toBeGreaterThanOrEqual(1);
    expect(input.maxResults).toBeLessThanOrEqual(1000);
  }
  for (const call of sfn.commandCalls(StopExecutionCommand)) {
    const input = call.args[0].input;
    expect(input.executionArn).toMatch(/^arn:aws:states:[a-z0-9-]+:\d{12}:execution:tfgate-prod-pipeline:/);
    expect(input.error!.length).toBeLessThanOrEqual(256);
    expect(input.cause!.length).toBeLessThanOrEqual(32_768);
  }
}

beforeEach(() => {
  cfn.reset();
  sfn.reset();
});

describe('tfgate stop-all', () => {
  it('stops every running execution (all pages), waits for each to end, and says destroy may go ahead', async () => {
    stackWith({ StateMachineArn: MACHINE, WebhookUrl: 'https://x/' });
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [{ executionArn: execution('a') } as never], nextToken: 'page2' })
      .resolvesOnce({ executions: [{ executionArn: execution('b') } as never] })
      .resolves({ executions: [] });
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolves({ status: 'ABORTED' } as never);
    const { exit, out } = await run({ reason: 'moving to a new account' });
    expect(exit).toBe(0);
    expect(sfn.commandCalls(StopExecutionCommand).map((c) => c.args[0].input.executionArn)).toEqual([
      execution('a'),
      execution('b'),
    ]);
    expect(sfn.commandCalls(StopExecutionCommand)[0]!.args[0].input).toMatchObject({
      error: 'tfgate.StackStopping',
      cause: 'stopped by tfgate stop-all: moving to a new account',
    });
    expect(sfn.commandCalls(ListExecutionsCommand)[1]!.args[0].input.nextToken).toBe('page2');
    expect(sfn.commandCalls(DescribeExecutionCommand).length).toBeGreaterThanOrEqual(2);
    expect(out).toMatch(/2 execution\(s\) stopped; none runs on .*tfgate-prod-pipeline/);
    checkRequests();
  });

  it('stops a run that started while it was stopping, and one that ended meanwhile is no error', async () => {
    stackWith({ StateMachineArn: MACHINE });
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [{ executionArn: execution('a') } as never] })
      .resolvesOnce({ executions: [{ executionArn: execution('late') } as never] })
      .resolves({ executions: [] });
    sfn
      .on(StopExecutionCommand, { executionArn: execution('a') })
      .rejects(Object.assign(new Error('gone'), { name: 'ExecutionDoesNotExist' }))
      .on(StopExecutionCommand, { executionArn: execution('late') })
      .resolves({ stopDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' } as never);
    const { exit } = await run();
    expect(exit).toBe(0);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(2);
    checkRequests();
  });

  it('exits 1 naming what still runs when runs keep arriving', async () => {
    stackWith({ StateMachineArn: MACHINE });
    let n = 0;
    sfn.on(ListExecutionsCommand).callsFake(async () => ({ executions: [{ executionArn: execution(`r${n++}`) }] }));
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' } as never);
    const { exit, out } = await run();
    expect(exit).toBe(1);
    expect(out).toMatch(/still running .* turn the GitHub webhook off first/);
  });

  it('needs --construct when the stack holds two Tfgate constructs, and refuses a stack without one', async () => {
    stackWith({ OneStateMachineArnA1B2C3D4: MACHINE, TwoStateMachineArnE5F6A7B8: MACHINE });
    expect(await run()).toMatchObject({ exit: 2, err: expect.stringMatching(/several Tfgate constructs .*One, Two/) });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    expect((await run({ construct: 'Two' })).exit).toBe(0);
    cfn.reset();
    stackWith({ Other: 'x' });
    expect(await run()).toMatchObject({ exit: 2, err: expect.stringMatching(/no StateMachineArn output/) });
  });
});
