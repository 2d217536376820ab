import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { packageFile } from '../src/package-files.js';
import { TfgateError } from '../src/domain/errors.js';
import { CliError } from './commands/client.js';
import type { LocalPullRequestResult } from '../src/local-mode/pull-request.js';

/**
 * The `tfgate` command line (../shared/interface.md fixes its surface). Each command loads its code when
 * it runs (`await import`), so a command pays for no other's: `tfgate runs` does not load the local stack,
 * the AWS SDK or the configuration parser.
 */

/**
 * A reader that stops reading (`tfgate runs | head -3`) ends the output; it is not a crash. A command
 * that serves (`tfgate local | head -1`) keeps serving: what it prints from then on goes nowhere.
 */
let serving = false;
const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (!READER_GONE.has(error.code ?? '')) throw error;
    if (!serving) process.exit(0);
  });
}

/** A failure to start that is the user's to fix: one line, no stack trace (TFGATE_DEBUG=1 shows it). */
function startFailure(error: unknown): string | undefined {
  if (error instanceof TfgateError) return error.message;
  const { code, message } = error as NodeJS.ErrnoException;
  // Files and directories the user named or that tfgate local keeps (permissions, missing paths, a full disk).
  if (code && /^E[A-Z]+$/.test(code)) return message;
  return undefined;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0 picks a free one)');
  return n;
}

const program = new Command('tfgate')
  .description('Terraform GitOps: plan ops, apply ops, plan apps, approve, apply apps.')
  .version(JSON.parse(readFileSync(packageFile('package.json'), 'utf8')).version as string)
  .showHelpAfterError();

const dataOption = () => new Option('--data <dir>', 'data directory of tfgate local').default('.tfgate');
const urlOption = () =>
  new Option('--url <url>', 'a running tfgate local (default: the one using --data, else http://127.0.0.1:8787)');

program
  .command('local')
  .description('run the whole pipeline on this machine')
  .option('--config <file>', 'tfgate.yaml to use (default: ./tfgate.yaml, else a starter in the data directory)')
  .addOption(dataOption())
  .option('--port <n>', 'port to listen on (0 picks a free one)', port, 8787)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--terraform <bin>', 'terraform or tofu binary')
  .option(
    '--webhook-secret <secret>',
    'webhook secret (default: TFGATE_WEBHOOK_SECRET, else one kept in the data directory)',
  )
  .option(
    '--unsandboxed-builds',
    'where no build sandbox can be made (no bubblewrap, macOS): plan pull requests anyway, unsandboxed',
  )
  .action(async (options) => {
    serving = true;
    const { runLocal } = await import('./commands/local.js');
    await runLocal(options);
  });

program
  .command('demo')
  .description('a self-contained tour: example repository, a push, the run, the approval')
  .option('--auto-approve', 'approve through the approval page route, as a person would')
  .option('--terraform <bin>', 'terraform or tofu binary')
  .option('--port <n>', 'port to listen on (0 picks a free one)', port, 0)
  .option('--data <dir>', 'data directory (default: a new temporary directory)')
  .action(async (options) => {
    serving = true;
    const { runDemo } = await import('./commands/demo.js');
    process.exitCode = await runDemo(options);
  });

program
  .command('init')
  .usage('[dir] --approver WHO [--force] [--repository owner/name]')
  .argument('[dir]', 'directory to write into (created if missing)', '.')
  .description('write a Kubestack-shaped Terraform root (apps the base, ops inheriting) and its tfgate.yaml')
  .option('--force', 'overwrite files that already exist')
  .option('--repository <owner/name>', 'the repository tfgate.yaml names (default: example/<directory name>)')
  .option(
    '--approver <who>',
    'who may approve apps: an email address, @login or @org/team (repeat for several; asked on a terminal when ' +
      'missing)',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .action(async (dir: string, options) => (await import('./commands/init.js')).runInit(dir, options));

program
  .command('runs')
  .description('list runs, newest first')
  .option('--json', 'print JSON')
  .addOption(dataOption())
  .addOption(urlOption())
  .action(async (options) => (await import('./commands/client.js')).listRuns(options));

program
  .command('show')
  .argument('<run>', 'run id, or a unique prefix of at least 8 characters')
  .description('one run with its stages, plan summaries, approvals and error')
  .option('--json', 'print JSON')
  .addOption(dataOption())
  .addOption(urlOption())
  .action(async (run: string, options) => (await import('./commands/client.js')).showRun(run, options));

for (const decision of ['approve', 'reject'] as const) {
  const command = program
    .command(decision)
    .argument('<approval>', 'approval id (from the link)')
    .description(decision === 'approve' ? 'approve a pending approval' : 'reject a pending approval')
    .option(
      '--as <who>',
      'the listed approver you are: an email address or @login (the local credential in the data directory proves ' +
        'you run tfgate here)',
    )
    .addOption(dataOption())
    .addOption(urlOption());
  command.option(
    '--reason <text>',
    decision === 'approve' ? 'why (kept with the approval, shown by show and the run page)' : 'why',
  );
  command.action(async (approval: string, options) =>
    (await import('./commands/client.js')).approveOrReject(decision, approval, options),
  );
}

program
  .command('unlock')
  .argument('<repo>', 'owner/name')
  .argument('<env>', 'environment')
  .description('free a stuck environment lock (recorded with who and why)')
  .option('--reason <text>', 'why', 'freed by tfgate unlock')
  .option('--force', 'free it even though the holding run is still alive (that run then will not apply)')
  .addOption(dataOption())
  .addOption(urlOption())
  .action(async (repo: string, env: string, options) =>
    (await import('./commands/client.js')).unlockEnvironment(repo, env, options),
  );

program
  .command('pr')
  .argument('<branch>', 'a branch already pushed to the local remote')
  .description('open (or update) a pull request locally: plans every environment for the branch head, applies nothing')
  .option('--repo <name>', 'owner/name (default: the only local repository)')
  .option('--base <branch>', "the branch it would merge into (default: the repository's tracked branch)")
  .option('--number <n>', 'pull request number (default: the branch keeps the one it got first)', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
    return n;
  })
  .addOption(dataOption())
  .action(async (branch: string, options: { repo?: string; base?: string; number?: number; data: string }) => {
    const { LocalPullRequestError, openLocalPullRequest } = await import('../src/local-mode/pull-request.js');
    let result: LocalPullRequestResult;
    try {
      result = await openLocalPullRequest({
        dataDir: options.data,
        branch,
        ...(options.repo ? { repository: options.repo } : {}),
        ...(options.base ? { base: options.base } : {}),
        ...(options.number ? { number: options.number } : {}),
      });
    } catch (error) {
      if (error instanceof LocalPullRequestError) throw new CliError(error.message);
      throw error;
    }
    if (result.runId) {
      process.stdout.write(
        `pull request #${result.number} ${result.action} for ${branch} (${result.sha.slice(0, 12)}): run ` +
          `${result.runId} plans it\n`,
      );
    } else if (result.ignored) {
      process.stdout.write(
        `pull request #${result.number} ${result.action} for ${branch}: nothing to run (${result.ignored})\n`,
      );
    } else {
      throw new CliError(`the webhook answered ${result.status}${result.error ? `: ${result.error}` : ''}`);
    }
  });

const plan = program.command('plan').description('saved plans, offline');
plan
  .command('show')
  .argument('<plan-json>', 'the output of `terraform show -json PLANFILE` (- reads standard input)')
  .description('the structured view of a saved plan, as the approval page shows it')
  .option('--json', 'counts and every resource change with its action, as JSON')
  .action(async (file: string, options: { json?: boolean }) =>
    (await import('./commands/plan-show.js')).runPlanShow(file, options),
  );

program
  .command('rerun')
  .argument('<run>', 'run id, or a unique prefix of at least 8 characters')
  .description("run a deploy run's commit again (one run per commit otherwise), recorded with who asked")
  .option('--as <who>', 'which approver of the repository you are (email or @login); needed when several are listed')
  .option('--rollback', 'run a commit that is not the head, or older than what an environment applied (needs --reason)')
  .option('--reason <text>', 'why the rollback: recorded on the run and shown on every approval page')
  .option('--json', 'print the answer as JSON')
  .addOption(dataOption())
  .addOption(urlOption())
  .action(async (run: string, options) => (await import('./commands/client.js')).rerunRun(run, options));

program
  .command('doctor')
  .description(
    'check a deployed tfgate in your AWS account (your credentials): a checklist, exit 0 only when every check holds',
  )
  .option('--stack <name>', 'the CloudFormation stack (cdk deploy -c stackName=…)', 'Tfgate')
  .option('--region <region>', "where it is deployed (default: AWS_REGION or your profile's region)")
  .option('--construct <id>', 'which Tfgate construct, when the stack holds several (the id in front of its outputs)')
  .option('--canary', 'also run a built-in terraform_data root through a plan and an apply build, then clean up')
  .option('--canary-environment <env>', 'whose build projects run the canary (default: the first environment)')
  .option('--json', 'print JSON')
  .action(async (options) => {
    // Loaded only here: the AWS SDK clients the doctor uses are no other command's cost.
    const { runDoctorCommand } = await import('./commands/doctor.js');
    process.exitCode = await runDoctorCommand(options);
  });

program
  .command('stop-all')
  .description(
    "stop every execution of a deployed tfgate's state machine (their locks are freed), before cdk destroy or a " +
      'redeploy that replaces it',
  )
  .option('--stack <name>', 'the CloudFormation stack (cdk deploy -c stackName=…)', 'Tfgate')
  .option('--region <region>', "where it is deployed (default: AWS_REGION or your profile's region)")
  .option('--construct <id>', 'which Tfgate construct, when the stack holds several (the id in front of its outputs)')
  .option('--reason <text>', 'recorded as the cause of each stopped execution')
  .action(async (options) => {
    const { runStopAllCommand } = await import('./commands/stop-all.js');
    process.exitCode = await runStopAllCommand(options);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Loaded for tfgate's own errors only: these modules (the configuration's parser) are a command's cost.
  if (error instanceof TfgateError && !(error instanceof CliError)) {
    const { TerraformNotFoundError } = await import('../src/terraform-locator.js');
    const { ConfigError } = await import('../src/config/load.js');
    if (error instanceof TerraformNotFoundError) {
      process.stderr.write(`tfgate: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      // One problem, one line (file:line:column: what); several, one line each.
      process.stderr.write(
        error.problems.length === 1
          ? `tfgate: ${error.message}\n`
          : `tfgate: the configuration is invalid:\n${error.message}\n`,
      );
      process.exit(2);
    }
  }
  if (error instanceof CliError) {
    process.stderr.write(`tfgate: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  const said = process.env.TFGATE_DEBUG ? undefined : startFailure(error);
  if (said !== undefined) {
    process.stderr.write(`tfgate: ${said.split('\n')[0]}\n`);
    process.exit(1);
  }
  throw error;
}
