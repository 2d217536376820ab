import { afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ExecutionAlreadyExists,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { SfnExecutionStarter, SfnTaskCallbacks } from '../../src/adapters/aws/sfn.js';
import type { PipelineInput } from '../../src/domain/ports.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:tfgate-pipeline';
const sfn = mockClient(SFNClient);
const client = new SFNClient({ region: 'eu-west-1' });

const input: PipelineInput = {
  runId: 'run-1',
  mode: 'deploy',
  repository: 'acme/infrastructure',
  sha: 'a'.repeat(40),
  sequence: 3,
  planBuild: 'plan',
  directory: '.',
  environments: [{ name: 'ops', requiresApproval: false, approvalTimeoutSeconds: 0 }],
  environmentCount: 1,
  environmentNames: 'ops',
  planTimeoutSeconds: 3000,
  applyTimeoutSeconds: 9600,
  lockWaitSeconds: 172800,
  builds: {
    plan: { timeoutMinutes: 15, queuedTimeoutMinutes: 30, taskTimeoutSeconds: 3000 },
    apply: { timeoutMinutes: 120, queuedTimeoutMinutes: 30, taskTimeoutSeconds: 9600 },
  },
};

afterEach(() => sfn.reset());

describe('SfnExecutionStarter', () => {
  it('starts the state machine with the name and the JSON input', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: `${STATE_MACHINE.replace('stateMachine', 'execution')}:gh-1`, startDate: new Date() });
    const result = await new SfnExecutionStarter(client, STATE_MACHINE).start('gh-1', input);
    expect(result).toEqual({
      started: true,
      executionId: 'arn:aws:states:eu-west-1:123456789012:execution:tfgate-pipeline:gh-1',
    });
    const call = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(call).toEqual({ stateMachineArn: STATE_MACHINE, name: 'gh-1', input: JSON.stringify(input) });
  });

  it('reports a twin as not started, with the existing execution ARN', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    expect(await new SfnExecutionStarter(client, STATE_MACHINE).start('gh-1', input)).toEqual({
      started: false,
      executionId: 'arn:aws:states:eu-west-1:123456789012:execution:tfgate-pipeline:gh-1',
    });
  });

  it('lets every other failure through', async () => {
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ message: 'gone', $metadata: {} }));
    await expect(new SfnExecutionStarter(client, STATE_MACHINE).start('gh-1', input)).rejects.toThrow('gone');
  });
});

describe('SfnTaskCallbacks', () => {
  it('sends success with JSON output and failure with bounded error and cause', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({}).on(SendTaskFailureCommand).resolves({});
    const callbacks = new SfnTaskCallbacks(client);
    expect(await callbacks.sendTaskSuccess('token-1', { acquired: true })).toEqual({ delivered: true });
    expect(await callbacks.sendTaskFailure('token-2', 'E'.repeat(300), 'c'.repeat(40000))).toEqual({ delivered: true });
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input).toEqual({
      taskToken: 'token-1',
      output: '{"acquired":true}',
    });
    const failure = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    expect(failure.taskToken).toBe('token-2');
    expect(failure.error).toHaveLength(256);
    expect(failure.cause).toHaveLength(32768);
  });

  it.each([
    ['TaskDoesNotExist', () => new TaskDoesNotExist({ message: 'no', $metadata: {} })],
    ['TaskTimedOut', () => new TaskTimedOut({ message: 'late', $metadata: {} })],
    ['InvalidToken', () => new InvalidToken({ message: 'bad', $metadata: {} })],
  ])('reports %s as not delivered', async (_name, error) => {
    sfn.on(SendTaskSuccessCommand).rejects(error()).on(SendTaskFailureCommand).rejects(error());
    const callbacks = new SfnTaskCallbacks(client);
    expect(await callbacks.sendTaskSuccess('t', {})).toEqual({ delivered: false });
    expect(await callbacks.sendTaskFailure('t', 'Rejected', 'no')).toEqual({ delivered: false });
  });

  it('lets throttling and other failures through', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    sfn.on(SendTaskSuccessCommand).rejects(throttled);
    await expect(new SfnTaskCallbacks(client).sendTaskSuccess('t', {})).rejects.toThrow('Rate exceeded');
  });
});
