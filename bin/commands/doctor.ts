/**
 * `tfgate doctor`: checks a deployed tfgate with the caller's AWS credentials and prints a checklist
 * (or JSON). Exit 0 when every check holds, 1 when one fails, 2 when it could not start (options,
 * credentials, region). The checks themselves are in src/doctor/.
 */
import { createDoctorContext } from '../../src/doctor/aws-clients.js';
import { DoctorUsageError } from '../../src/doctor/context.js';
import { exitCodeOf, renderChecklist } from '../../src/doctor/result.js';
import { runDoctor } from '../../src/doctor/run.js';
import { assertStackName } from '../../src/doctor/stack.js';

export interface DoctorCommandOptions {
  stack: string;
  region?: string;
  construct?: string;
  canary?: boolean;
  canaryEnvironment?: string;
  json?: boolean;
}

export interface DoctorCommandDeps {
  createContext: typeof createDoctorContext;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export async function runDoctorCommand(
  options: DoctorCommandOptions,
  deps: DoctorCommandDeps = { createContext: createDoctorContext, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130);
    deps.stderr.write('tfgate doctor: interrupted; stopping the canary and cleaning up (Ctrl-C again to leave)\n');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  try {
    assertStackName(options.stack);
    if (options.canaryEnvironment !== undefined && !options.canary)
      throw new DoctorUsageError('--canary-environment needs --canary');
    const ctx = await deps.createContext({
      ...(options.region !== undefined ? { region: options.region } : {}),
      progress: (line) => deps.stderr.write(`${line}\n`),
    });
    const report = await runDoctor(ctx, {
      stackName: options.stack,
      ...(options.construct !== undefined ? { construct: options.construct } : {}),
      canary: options.canary
        ? {
            signal: interrupt.signal,
            ...(options.canaryEnvironment !== undefined ? { environment: options.canaryEnvironment } : {}),
          }
        : false,
    });
    const code = exitCodeOf(report.results);
    if (options.json) {
      deps.stdout.write(
        `${JSON.stringify(
          {
            ok: code === 0,
            account: report.account,
            caller: report.caller,
            region: report.region,
            stack: report.stackName,
            checks: report.results,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      deps.stdout.write(
        renderChecklist(
          report.results,
          `tfgate doctor: stack ${report.stackName} in ${report.region}, account ${report.account} as ${report.caller}`,
        ),
      );
    }
    return code;
  } catch (error) {
    if (error instanceof DoctorUsageError) {
      deps.stderr.write(`tfgate doctor: ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
