import '../polyfills.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import type { ExecutionInspector, ExecutionStarter, PipelineInput, TaskCallbacks } from '../domain/ports.js';
import { TfgateError } from '../domain/errors.js';

/**
 * Runs the pipeline's ASL file itself with aws-local-stepfunctions. Task states are mapped by their
 * `Resource` to local stand-ins of the AWS services they call, so the definition, its Retry/Catch
 * rules, Choice routing and timeouts are exercised exactly as written; there is no second
 * orchestration path.
 */

/** A local stand-in for a Lambda function: the same handler function the AWS entry wraps. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

export interface CodeBuildStartParams {
  ProjectName: string;
  EnvironmentVariablesOverride?: Array<{ Name: string; Value: string; Type?: string }>;
  TimeoutInMinutesOverride?: number;
  QueuedTimeoutInMinutesOverride?: number;
  IdempotencyToken?: string;
  EnvironmentTypeOverride?: string;
  ComputeTypeOverride?: string;
  ImageOverride?: string;
}

/**
 * CodeBuild refusing StartBuild (no build started): a local build stand-in throws this, and the
 * engine fails the task the way Step Functions does, with the error `CodeBuild.<exception>`.
 */
export class StartBuildRefused extends TfgateError {
  override name = 'StartBuildRefused';
  constructor(
    readonly exception:
      | 'AccountLimitExceededException'
      | 'ThrottlingException'
      | 'CodeBuildException'
      | 'ResourceNotFoundException',
    message: string,
  ) {
    super(message);
  }
}

export interface LocalBuild {
  Id: string;
  BuildStatus: 'SUCCEEDED' | 'FAILED' | 'FAULT' | 'TIMED_OUT' | 'STOPPED';
  [key: string]: unknown;
}

/** Runs one build to completion (the build runner subprocess locally); the signal stops it. */
export type LocalCodeBuild = (params: CodeBuildStartParams, signal: AbortSignal) => Promise<LocalBuild>;

export interface ExecutionNames {
  /** Claims a name for good (Step Functions reserves execution names for 90 days): false when taken. */
  claim(name: string): Promise<boolean>;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionOutcome {
  name: string;
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  input: PipelineInput;
  error?: string;
  cause?: string;
  /** Why it was aborted, when the abort said. */
  reason?: string;
}

export interface LocalEngineOptions {
  definitionFile: string;
  /** The definition as this configuration runs it (the same transforms the CDK stack applies). */
  transform?: (definition: string) => string;
  /** Values for the `${Name}` placeholders CDK fills with definitionSubstitutions in AWS. */
  substitutions: Record<string, string>;
  /** Keyed by the FunctionName the definition passes (the substituted ARN). */
  functions: Record<string, LocalFunction>;
  codeBuild: LocalCodeBuild;
  names: ExecutionNames;
  /** Test speed-up: replaces every Retry interval (milliseconds). */
  retryIntervalMs?: number;
  /** Test speed-up: a fixed timeout (seconds) for the named states' TimeoutSecondsPath. */
  taskTimeoutOverrides?: Record<string, number>;
  /** Called when an execution ends other than by succeeding on its own (EventBridge's role in AWS). */
  onExecutionEnded?: (outcome: ExecutionOutcome) => Promise<void>;
  onStateEntered?: (executionName: string, stateName: string) => void;
}

export class LocalEngineError extends TfgateError {
  override name = 'LocalEngineError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const TOKEN_PLACEHOLDER = 'tfgate-local-task-token-placeholder';
const REGION = 'local-1';
const ACCOUNT = '000000000000';

interface TaskState {
  Type: 'Task';
  Resource: string;
}

interface Waiter {
  executionName: string;
  resolve(output: unknown): void;
  reject(error: Error): void;
}

interface RunningExecution {
  name: string;
  input: PipelineInput;
  controller: AbortController;
  abort: () => void;
  abortReason?: string;
  done: Promise<ExecutionOutcome>;
  tokens: Set<string>;
  /** A resumed execution's first wait uses this token (it was stored with the approval before the restart finished). */
  presetToken?: string;
}

/** Step Functions' placeholder syntax: `${Name}`. Unknown names are an error, never left in place. */
export function substitute(text: string, substitutions: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_match, key: string) => {
    const value = substitutions[key];
    if (value === undefined) throw new LocalEngineError(`the definition uses \${${key}} but no substitution was given`);
    return value;
  });
}

export class LocalEngine implements ExecutionStarter, TaskCallbacks, ExecutionInspector {
  readonly definition: { States: Record<string, unknown>; [key: string]: unknown };
  private readonly machine: StateMachine;
  private readonly running = new Map<string, RunningExecution>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly finished = new Map<string, ExecutionOutcome>();
  /** Preset tokens of resumed executions whose wait has not begun yet, and decisions that arrived for them early. */
  private readonly expected = new Map<string, string>();
  private readonly early = new Map<
    string,
    { ok: true; output: unknown } | { ok: false; error: string; cause: string }
  >();
  private readonly handlerFactories: Record<
    string,
    (executionName: () => RunningExecution) => (input: unknown) => Promise<unknown>
  >;

  constructor(private readonly options: LocalEngineOptions) {
    const file = readFileSync(options.definitionFile, 'utf8');
    const text = substitute(options.transform ? options.transform(file) : file, options.substitutions);
    this.definition = JSON.parse(text);
    this.machine = new StateMachine(
      evaluateTimeoutPathsOnStateInput(this.definition, options.taskTimeoutOverrides) as never,
      { validationOptions: { checkArn: true, checkPaths: true } },
    );
    this.handlerFactories = {};
    for (const [stateName, state] of Object.entries(this.definition.States)) {
      const task = state as TaskState;
      if (task.Type !== 'Task') continue;
      this.handlerFactories[stateName] = this.handlerFor(stateName, task.Resource);
    }
  }

  async start(name: string, input: PipelineInput): Promise<{ started: boolean; executionId: string }> {
    const executionId = this.executionArn(name);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw new LocalEngineError(`invalid execution name: ${JSON.stringify(name)}`);
    if (!(await this.options.names.claim(name))) return { started: false, executionId };
    this.launch(name, input);
    return { started: true, executionId };
  }

  /**
   * Local restart only: starts an execution again under the name it already had (claimed when the run
   * began), so the lock holder's execution name, the run record and the reconciler's liveness check
   * stay true. The input's `resume` says where the definition picks up.
   */
  resume(name: string, input: PipelineInput, options: { firstWaitToken?: string } = {}): void {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw new LocalEngineError(`invalid execution name: ${JSON.stringify(name)}`);
    if (this.running.has(name)) throw new LocalEngineError(`execution ${name} is already running`);
    if (options.firstWaitToken !== undefined && !options.firstWaitToken.startsWith(`${name}.`))
      throw new LocalEngineError('a preset token must belong to its execution');
    if (options.firstWaitToken) this.expected.set(options.firstWaitToken, name);
    this.launch(name, input, options.firstWaitToken);
  }

  /**
   * The token a resumed execution's first wait will use, made before it starts: stored with the
   * approval at once, so a decision posted while the execution is still on its way to the wait is
   * kept and delivered when the wait begins instead of being lost.
   */
  static presetTokenFor(executionName: string): string {
    return `${executionName}.${randomBytes(16).toString('hex')}`;
  }

  async isRunning(executionName: string): Promise<boolean> {
    return this.running.has(executionName);
  }

  /** Resolves when the execution ends (any status). */
  async wait(executionName: string): Promise<ExecutionOutcome> {
    const running = this.running.get(executionName);
    if (running) return running.done;
    const finished = this.finished.get(executionName);
    if (finished) return finished;
    throw new LocalEngineError(`no execution named ${executionName}`);
  }

  /** Like StopExecution: the execution ends as ABORTED; its in-flight build is stopped. */
  abort(executionName: string, reason?: string): boolean {
    const running = this.running.get(executionName);
    if (!running) return false;
    if (reason) running.abortReason = reason;
    running.abort();
    return true;
  }

  runningExecutions(): string[] {
    return [...this.running.keys()];
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<{ delivered: boolean }> {
    const waiter = this.takeWaiter(taskToken);
    if (!waiter) return this.keepEarly(taskToken, { ok: true, output });
    waiter.resolve(output);
    return { delivered: true };
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<{ delivered: boolean }> {
    const waiter = this.takeWaiter(taskToken);
    if (!waiter) return this.keepEarly(taskToken, { ok: false, error, cause });
    waiter.reject(namedError(error, cause));
    return { delivered: true };
  }

  /** Aborts every execution (shutdown); they end as ABORTED. */
  async stopAll(reason?: string): Promise<void> {
    const all = [...this.running.values()];
    for (const execution of all) this.abort(execution.name, reason);
    await Promise.allSettled(all.map((execution) => execution.done));
  }

  private executionArn(name: string): string {
    return `arn:aws:states:${REGION}:${ACCOUNT}:execution:tfgate-pipeline:${name}`;
  }

  private keepEarly(
    taskToken: string,
    decision: { ok: true; output: unknown } | { ok: false; error: string; cause: string },
  ): { delivered: boolean } {
    const executionName = this.expected.get(taskToken);
    if (!executionName || !this.running.has(executionName) || this.early.has(taskToken)) return { delivered: false };
    this.early.set(taskToken, decision);
    return { delivered: true };
  }

  private takeWaiter(taskToken: string): Waiter | undefined {
    const waiter = this.waiters.get(taskToken);
    if (!waiter) return undefined;
    this.waiters.delete(taskToken);
    this.running.get(waiter.executionName)?.tokens.delete(taskToken);
    return waiter;
  }

  private launch(name: string, input: PipelineInput, presetToken?: string): void {
    const controller = new AbortController();
    const tokens = new Set<string>();
    const execution = { name, input, controller, tokens, ...(presetToken ? { presetToken } : {}) } as RunningExecution;
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, factory] of Object.entries(this.handlerFactories)) {
      const handler = factory(() => execution);
      overrides[stateName] = (taskInput) => {
        const promise = handler(unwrapParameters(taskInput));
        // The library may stop awaiting a task (a timeout, a failed path lookup) while it still runs;
        // its later rejection is expected and must not take the process down.
        promise.catch(() => undefined);
        return promise;
      };
    }
    const retryIntervalOverrides: Record<string, number> = {};
    if (this.options.retryIntervalMs !== undefined) {
      for (const stateName of Object.keys(this.definition.States))
        retryIntervalOverrides[stateName] = this.options.retryIntervalMs;
    }
    const run = this.machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides },
      context: {
        Execution: { Id: this.executionArn(name), Name: name, RoleArn: `arn:aws:iam::${ACCOUNT}:role/tfgate-local` },
        StateMachine: {
          Id: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:tfgate-pipeline`,
          Name: 'tfgate-pipeline',
        },
        Task: { Token: TOKEN_PLACEHOLDER },
      },
    });
    if (this.options.onStateEntered)
      void this.followStates(name, run.eventLogs as AsyncGenerator<{ type: string; state?: { name: string } }>);
    execution.abort = () => {
      controller.abort();
      run.abort();
    };
    execution.done = run.result
      .then(
        () => ({ name, status: 'SUCCEEDED' as const, input }),
        (error: unknown) => outcomeOf(name, input, error),
      )
      .then(async (outcome) => {
        if (execution.abortReason && outcome.status === 'ABORTED') outcome.reason = execution.abortReason;
        this.running.delete(name);
        for (const token of tokens) this.waiters.delete(token);
        if (presetToken) {
          this.expected.delete(presetToken);
          this.early.delete(presetToken);
        }
        controller.abort();
        this.finished.set(name, outcome);
        if (outcome.status !== 'SUCCEEDED' && this.options.onExecutionEnded) {
          // In AWS an EventBridge rule on FAILED, TIMED_OUT and ABORTED executions calls the pipeline
          // function, so a run stopped from outside still frees its locks and says why.
          await this.options.onExecutionEnded(outcome).catch(() => undefined);
        }
        return outcome;
      });
    this.running.set(name, execution);
  }

  private async followStates(
    name: string,
    events: AsyncGenerator<{ type: string; state?: { name: string } }>,
  ): Promise<void> {
    try {
      for await (const event of events) {
        if (event.type === 'StateEntered' && event.state) this.options.onStateEntered?.(name, event.state.name);
      }
    } catch {
      // The event log ends with the execution; nothing to report.
    }
  }

  private handlerFor(
    stateName: string,
    resource: string,
  ): (execution: () => RunningExecution) => (input: unknown) => Promise<unknown> {
    switch (resource) {
      case 'arn:aws:states:::lambda:invoke':
        return () => async (input) => {
          const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
          const result = await this.invoke(FunctionName, Payload);
          return { ExecutedVersion: '$LATEST', Payload: result ?? null, StatusCode: 200 };
        };
      case 'arn:aws:states:::lambda:invoke.waitForTaskToken':
        return (current) => async (input) => {
          const execution = current();
          // Step Functions issues a fresh token for every wait; the library only has one per
          // execution, so each wait gets its own here and stale tokens can never resume a later wait.
          for (const stale of execution.tokens) this.waiters.delete(stale);
          execution.tokens.clear();
          const token = execution.presetToken ?? `${execution.name}.${randomBytes(16).toString('hex')}`;
          execution.presetToken = undefined;
          const { FunctionName, Payload } = replaceToken(input, token) as { FunctionName: string; Payload: unknown };
          const outcome = new Promise<unknown>((resolve, reject) => {
            this.waiters.set(token, { executionName: execution.name, resolve, reject });
          });
          execution.tokens.add(token);
          await this.invoke(FunctionName, Payload);
          // A decision that arrived before this wait began (a resumed execution's preset token).
          this.expected.delete(token);
          const early = this.early.get(token);
          if (early) {
            this.early.delete(token);
            if (early.ok) await this.sendTaskSuccess(token, early.output);
            else await this.sendTaskFailure(token, early.error, early.cause);
          }
          return outcome;
        };
      case 'arn:aws:states:::codebuild:startBuild.sync':
        return (current) => async (input) => {
          const build = await this.options
            .codeBuild(input as CodeBuildStartParams, current().controller.signal)
            .catch((error: unknown) => {
              if (!(error instanceof StartBuildRefused)) throw error;
              // Step Functions names a service integration's API error `<Service>.<exception>`.
              throw namedError(
                `CodeBuild.${error.exception}`,
                `${error.message} (Service: AWSCodeBuild; Status Code: 400; Error Code: ${error.exception})`,
              );
            });
          if (build.BuildStatus !== 'SUCCEEDED') {
            // The .sync integration fails the task with States.TaskFailed and the build as the cause.
            throw namedError('States.TaskFailed', JSON.stringify({ Build: build }));
          }
          return { Build: build };
        };
      default:
        throw new LocalEngineError(`state ${stateName}: the local engine has no stand-in for Resource ${resource}`);
    }
  }

  private async invoke(functionName: string, payload: unknown): Promise<unknown> {
    const fn = this.options.functions[functionName];
    if (!fn) throw namedError('Lambda.ResourceNotFoundException', `Function not found: ${functionName}`);
    try {
      return await fn(JSON.parse(JSON.stringify(payload ?? null)));
    } catch (error) {
      // A Lambda function error reaches Step Functions as Error = errorType, Cause = the error JSON.
      const err = error instanceof Error ? error : new Error(String(error));
      throw namedError(err.name || 'Error', JSON.stringify({ errorType: err.name, errorMessage: err.message }));
    }
  }
}

const WRAPPED_PARAMETERS = '__tfgateParameters';
const WRAPPED_TIMEOUT = '__tfgateTimeoutSeconds';

/**
 * Step Functions resolves TimeoutSecondsPath against the state's input; aws-local-stepfunctions
 * resolves it against the Parameters output. So that the same definition behaves the same here,
 * each such Task's Parameters are wrapped together with the timeout taken from the state input, and
 * the task handler unwraps them again (`unwrapParameters`).
 */
export function evaluateTimeoutPathsOnStateInput(
  definition: { States: Record<string, unknown> },
  overrides: Record<string, number> = {},
): { States: Record<string, unknown> } {
  const states: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(definition.States)) {
    const state = raw as Record<string, unknown>;
    const fixed = overrides[name];
    if (fixed !== undefined && state.Type === 'Task' && typeof state.TimeoutSecondsPath === 'string') {
      const { TimeoutSecondsPath: _path, ...rest } = state;
      states[name] = { ...rest, TimeoutSeconds: fixed };
    } else if (
      state.Type === 'Task' &&
      typeof state.TimeoutSecondsPath === 'string' &&
      state.Parameters !== undefined
    ) {
      states[name] = {
        ...state,
        Parameters: { [WRAPPED_PARAMETERS]: state.Parameters, [`${WRAPPED_TIMEOUT}.$`]: state.TimeoutSecondsPath },
        TimeoutSecondsPath: `$.${WRAPPED_TIMEOUT}`,
      };
    } else {
      states[name] = state;
    }
  }
  return { ...definition, States: states };
}

function unwrapParameters(input: unknown): unknown {
  if (input && typeof input === 'object' && WRAPPED_PARAMETERS in input)
    return (input as Record<string, unknown>)[WRAPPED_PARAMETERS];
  return input;
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function replaceToken(value: unknown, token: string): unknown {
  if (value === TOKEN_PLACEHOLDER) return token;
  if (Array.isArray(value)) return value.map((item) => replaceToken(item, token));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replaceToken(item, token)]));
  }
  return value;
}

function outcomeOf(name: string, input: PipelineInput, error: unknown): ExecutionOutcome {
  if (error instanceof ExecutionAbortedError) return { name, input, status: 'ABORTED' };
  if (error instanceof ExecutionTimeoutError) return { name, input, status: 'TIMED_OUT' };
  if (error instanceof ExecutionError) {
    const inner = (error as { cause?: unknown }).cause as Error | undefined;
    return { name, input, status: 'FAILED', error: inner?.name ?? 'Error', cause: inner?.message ?? String(error) };
  }
  return {
    name,
    input,
    status: 'FAILED',
    error: (error as Error)?.name ?? 'Error',
    cause: (error as Error)?.message ?? String(error),
  };
}
