import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionInspector } from '../../domain/ports.js';

/**
 * DescribeExecution for the reconciler. Lock holders are recorded by execution name; the ARN follows
 * from the state machine's (arn:…:stateMachine:<machine> → arn:…:execution:<machine>:<name>).
 */
export class SfnExecutionInspector implements ExecutionInspector {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async isRunning(executionName: string): Promise<boolean> {
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
    try {
      const result = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return result.status === 'RUNNING' || result.status === 'PENDING_REDRIVE';
    } catch (error) {
      // Never started (a start that failed after the lock was granted in reserve) or long expired.
      if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return false;
      throw error;
    }
  }
}
