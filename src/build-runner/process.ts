/**
 * Runs one command (git or terraform) with an argument array, never a shell. Output goes to the
 * build log line by line as it arrives, and is kept, cleaned of terminal escapes, for the artifacts.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { stripTerminalEscapes } from './text.js';
import { TfgateError } from '../domain/errors.js';
import { bwrapArguments, type SandboxSpec } from './sandbox.js';

export type SpawnFunction = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface LogSink {
  write(text: string): unknown;
}

export interface CommandResult {
  exitCode: number;
  /** Cleaned stdout and stderr lines in arrival order (the plan.txt / apply.txt body). */
  output: string;
  /** Cleaned stderr lines, only the last part (errors are at the end). */
  stderr: string;
  /** Raw stdout, kept only when `captureStdout` is set (terraform show -json). */
  stdout: string;
  outputTruncated: boolean;
}

export interface CommandRequest {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Keep stdout raw and out of the log instead of streaming it (machine-readable output). */
  captureStdout?: boolean;
  /** Text that must never reach the log or an artifact (credentials). */
  secrets?: readonly string[];
  signal?: AbortSignal;
  /** Run the command in bubblewrap (sandbox.ts): the sandbox ends, with everything in it, when the command does. */
  sandbox?: { bwrap: string; spec: Omit<SandboxSpec, 'cwd' | 'infoFd'> };
}

/** The descriptor bubblewrap writes the sandboxed command's pid to (JSON `child-pid`). */
const INFO_FD = 3;

export class CommandStartError extends TfgateError {
  override name = 'CommandStartError';
}

// A plan for a large estate is megabytes; past this the head is kept (the rest stays in the build log).
const MAX_OUTPUT_CHARS = 32 * 1024 * 1024;
const MAX_STDERR_TAIL_CHARS = 256 * 1024;
const MAX_RAW_STDOUT_BYTES = 256 * 1024 * 1024;
// terraform stops gracefully on the first SIGINT (releasing state locks); this is how long it gets.
const INTERRUPT_GRACE_MS = 60_000;

export function runCommand(
  spawn: SpawnFunction,
  request: CommandRequest,
  log: { stdout: LogSink; stderr: LogSink },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (request.signal?.aborted) {
      reject(new CommandStartError(`${request.command} not started: the build was interrupted`));
      return;
    }
    let child: ChildProcess;
    const sandbox = request.sandbox;
    try {
      child = sandbox
        ? spawn(
            sandbox.bwrap,
            bwrapArguments({ ...sandbox.spec, cwd: request.cwd, infoFd: INFO_FD }, [request.command, ...request.args]),
            {
              // bubblewrap's own working directory is outside the sandbox: one that always exists.
              cwd: '/',
              env: request.env,
              shell: false,
              stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
              windowsHide: true,
            },
          )
        : spawn(request.command, request.args, {
            cwd: request.cwd,
            env: request.env,
            shell: false,
            stdio: ['ignore', 'pipe', 'pipe'],
            windowsHide: true,
          });
    } catch (error) {
      reject(new CommandStartError(`could not start ${request.command}: ${(error as Error).message}`));
      return;
    }

    const secrets = (request.secrets ?? []).filter((secret) => secret.length > 0);
    const clean = (line: string): string => {
      let text = stripTerminalEscapes(line);
      for (const secret of secrets) text = text.split(secret).join('***');
      return text;
    };

    let output = '';
    let outputTruncated = false;
    let stderrTail = '';
    const rawStdoutChunks: Buffer[] = [];
    let rawStdoutSize = 0;
    const keepLine = (line: string, stream: 'stdout' | 'stderr'): void => {
      const cleaned = clean(line);
      (stream === 'stdout' ? log.stdout : log.stderr).write(`${cleaned}\n`);
      if (output.length + cleaned.length + 1 <= MAX_OUTPUT_CHARS) output += `${cleaned}\n`;
      else outputTruncated = true;
      if (stream === 'stderr') {
        stderrTail += `${cleaned}\n`;
        if (stderrTail.length > MAX_STDERR_TAIL_CHARS * 2) stderrTail = stderrTail.slice(-MAX_STDERR_TAIL_CHARS);
      }
    };

    const lineReader = (stream: 'stdout' | 'stderr') => {
      const decoder = new StringDecoder('utf8');
      let pending = '';
      return {
        push(chunk: Buffer): void {
          pending += decoder.write(chunk);
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) keepLine(line, stream);
        },
        end(): void {
          pending += decoder.end();
          if (pending !== '') keepLine(pending, stream);
          pending = '';
        },
      };
    };

    const stderrLines = lineReader('stderr');
    const stdoutLines = lineReader('stdout');
    let rawStdoutOverflow = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!request.captureStdout) return stdoutLines.push(chunk);
      rawStdoutSize += chunk.length;
      if (rawStdoutSize > MAX_RAW_STDOUT_BYTES) rawStdoutOverflow = true;
      else rawStdoutChunks.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => stderrLines.push(chunk));

    // In the sandbox the command is its namespace's PID 1: bubblewrap passes no signal on, so the
    // interrupt goes to the command itself, and SIGKILL to bubblewrap ends the whole namespace.
    let sandboxedPid: number | undefined;
    let info = '';
    child.stdio[INFO_FD]?.on('data', (chunk: Buffer) => {
      info += chunk.toString('utf8');
      const pid = /"child-pid"\s*:\s*(\d+)/.exec(info)?.[1];
      if (pid) sandboxedPid = Number(pid);
    });
    let killTimer: NodeJS.Timeout | undefined;
    const interrupt = (): void => {
      if (sandbox && sandboxedPid) {
        try {
          process.kill(sandboxedPid, 'SIGINT');
        } catch {
          child.kill('SIGKILL');
        }
      } else child.kill(sandbox ? 'SIGKILL' : 'SIGINT');
      killTimer = setTimeout(() => child.kill('SIGKILL'), INTERRUPT_GRACE_MS);
      killTimer.unref();
    };
    request.signal?.addEventListener('abort', interrupt, { once: true });

    let settled = false;
    child.once('error', (error) => {
      if (settled) return;
      settled = true;
      request.signal?.removeEventListener('abort', interrupt);
      reject(new CommandStartError(`could not run ${request.command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      request.signal?.removeEventListener('abort', interrupt);
      stdoutLines.end();
      stderrLines.end();
      if (rawStdoutOverflow) {
        reject(
          new CommandStartError(
            `${request.command} printed more than ${MAX_RAW_STDOUT_BYTES} bytes of machine-readable output`,
          ),
        );
        return;
      }
      resolve({
        exitCode: code ?? (signal ? 128 + signalNumber(signal) : 1),
        output,
        stderr: stderrTail.slice(-MAX_STDERR_TAIL_CHARS),
        stdout: Buffer.concat(rawStdoutChunks).toString('utf8'),
        outputTruncated,
      });
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
