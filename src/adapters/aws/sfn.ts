import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { ExecutionStarter, PipelineInput, TaskCallbacks } from '../../domain/ports.js';

/** Step Functions adapters for the orchestration ports. */

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;
}

export class SfnExecutionStarter implements ExecutionStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(name: string, input: PipelineInput): Promise<{ started: boolean; executionId: string }> {
    try {
      const result = await this.client.send(
        new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { started: true, executionId: result.executionArn ?? this.executionArnFor(name) };
    } catch (error) {
      // Names stay reserved for 90 days after a Standard execution ends: a twin is refused here.
      if (errorName(error) === 'ExecutionAlreadyExists')
        return { started: false, executionId: this.executionArnFor(name) };
      throw error;
    }
  }

  /** arn:…:stateMachine:<machine> → arn:…:execution:<machine>:<name>, the ARN Step Functions gives it. */
  private executionArnFor(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }
}

// The token is spent, expired or never existed: the waiting side has moved on, which is not an error here.
const UNDELIVERABLE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);
// SendTaskFailure limits: error 256 characters, cause 32768.
const MAX_ERROR_CHARS = 256;
const MAX_CAUSE_CHARS = 32768;

export class SfnTaskCallbacks implements TaskCallbacks {
  constructor(private readonly client: SFNClient) {}

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<{ delivered: boolean }> {
    return this.deliver(() =>
      this.client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? {}) })),
    );
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<{ delivered: boolean }> {
    return this.deliver(() =>
      this.client.send(
        new SendTaskFailureCommand({
          taskToken,
          error: error.slice(0, MAX_ERROR_CHARS),
          cause: cause.slice(0, MAX_CAUSE_CHARS),
        }),
      ),
    );
  }

  private async deliver(send: () => Promise<unknown>): Promise<{ delivered: boolean }> {
    try {
      await send();
      return { delivered: true };
    } catch (error) {
      const name = errorName(error);
      if (name !== undefined && UNDELIVERABLE.has(name)) return { delivered: false };
      throw error;
    }
  }
}
