import type { ExecutionStarter, PipelineInput, TaskCallbacks } from '../../src/domain/ports.js';
import type { WebhookLogger } from '../../src/application/logger.js';

/** Records every start and, like Step Functions, refuses a name it has seen before. */
export class RecordingStarter implements ExecutionStarter {
  readonly started: Array<{ name: string; input: PipelineInput }> = [];
  readonly refused: string[] = [];
  failure: Error | undefined;

  async start(name: string, input: PipelineInput): Promise<{ started: boolean; executionId: string }> {
    if (this.failure) throw this.failure;
    const executionId = `arn:aws:states:us-east-1:123456789012:execution:tfgate:${name}`;
    if (this.started.some((execution) => execution.name === name)) {
      this.refused.push(name);
      return { started: false, executionId };
    }
    this.started.push({ name, input });
    return { started: true, executionId };
  }
}

export class RecordingCallbacks implements TaskCallbacks {
  readonly successes: Array<{ taskToken: string; output: unknown }> = [];
  async sendTaskSuccess(taskToken: string, output: unknown): Promise<{ delivered: boolean }> {
    this.successes.push({ taskToken, output });
    return { delivered: true };
  }
  async sendTaskFailure(): Promise<{ delivered: boolean }> {
    return { delivered: true };
  }
}

export class RecordingLogger implements WebhookLogger {
  readonly lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, fields });
  }
  text(): string {
    return JSON.stringify(this.lines);
  }
}
