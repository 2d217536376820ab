/**
 * `tfgate stop-all --stack NAME`: stops every execution of a deployed tfgate's state machine, so that
 * `cdk destroy` (and the next deploy) does not wait on runs that wait for days. Exit 0 when none runs any
 * more, 1 when some still run, 2 when it could not start.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createDoctorContext } from '../../src/doctor/aws-clients.js';
import { DoctorUsageError, sleep } from '../../src/doctor/context.js';
import { assertStackName } from '../../src/doctor/stack.js';
import {
  StopAllError,
  stateMachineOf,
  stopAllExecutions,
  type StopAllDeps,
} from '../../src/operations/stop-executions.js';

export interface StopAllCommandOptions {
  stack: string;
  region?: string;
  construct?: string;
  reason?: string;
}

export interface StopAllCommandDeps {
  clients: (region: string | undefined) => Promise<Pick<StopAllDeps, 'cloudFormation' | 'sfn'>>;
  sleep?: (ms: number) => Promise<void>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

async function defaultClients(region: string | undefined) {
  // The doctor's region rules: --region, else AWS_REGION or the profile's; none is a usage error.
  const ctx = await createDoctorContext({ ...(region ? { region } : {}), progress: () => undefined });
  return {
    cloudFormation: new CloudFormationClient({ region: ctx.region }),
    sfn: new SFNClient({ region: ctx.region }),
  };
}

export async function runStopAllCommand(
  options: StopAllCommandOptions,
  deps: StopAllCommandDeps = { clients: defaultClients, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    assertStackName(options.stack);
    const clients = await deps.clients(options.region);
    const stateMachineArn = await stateMachineOf(clients.cloudFormation, options.stack, options.construct);
    const result = await stopAllExecutions(
      {
        ...clients,
        sleep: deps.sleep ?? ((ms) => sleep(ms)),
        progress: (line) => deps.stderr.write(`${line}\n`),
      },
      { stateMachineArn, reason: options.reason ?? 'the stack is being destroyed or redeployed' },
    );
    if (result.stillRunning.length > 0) {
      deps.stdout.write(
        `tfgate stop-all: ${result.stillRunning.length} execution(s) still running (new pushes keep starting runs? ` +
          `turn the GitHub webhook off first, then run this again): ${result.stillRunning.join(', ')}\n`,
      );
      return 1;
    }
    deps.stdout.write(
      `tfgate stop-all: ${result.stopped.length} execution(s) stopped; none runs on ${stateMachineArn}. Their ` +
        `locks are freed by the stack as each ends; cdk destroy can go ahead.\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof DoctorUsageError || error instanceof StopAllError) {
      deps.stderr.write(`tfgate stop-all: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
