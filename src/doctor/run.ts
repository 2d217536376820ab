/**
 * `tfgate doctor`: who the credentials are, then the stack, then everything that hangs off its outputs,
 * each check a line. A check that cannot run because an earlier one failed says so instead of guessing.
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { checkAlarmSubscriptions } from './alarms.js';
import { describeAwsError } from './aws-errors.js';
import { type CanaryOptions, runCanary } from './canary.js';
import { checkBuildCapacity, findBuildProjects } from './codebuild.js';
import { type DoctorContext, DoctorUsageError } from './context.js';
import { checkGitHub } from './github.js';
import { checkMail } from './mail.js';
import { type CheckResult, skip } from './result.js';
import { checkSecrets } from './secrets.js';
import { checkStack } from './stack.js';
import { checkWebhook } from './webhook.js';

export interface DoctorOptions {
  stackName: string;
  /** Which Tfgate construct, when a stack holds several (the id in front of its outputs' names). */
  construct?: string;
  /** Run the canary builds too. */
  canary?: CanaryOptions | false;
}

export interface DoctorReport {
  account: string;
  caller: string;
  region: string;
  stackName: string;
  results: CheckResult[];
}

/** Who the default credential chain is. Anything wrong here is exit 2: nothing else can be checked. */
export async function whoAmI(ctx: DoctorContext): Promise<{ account: string; arn: string }> {
  try {
    const answer = await ctx.clients.sts.send(new GetCallerIdentityCommand({}));
    if (!answer.Account || !answer.Arn) throw new Error('GetCallerIdentity returned no account');
    return { account: answer.Account, arn: answer.Arn };
  } catch (error) {
    throw new DoctorUsageError(
      `no usable AWS credentials (${describeAwsError(error)}). The doctor uses the default credential chain, ` +
        'as the AWS CLI and cdk deploy do: aws configure, aws sso login, or AWS_PROFILE.',
    );
  }
}

/** Runs a check, turning an unexpected error into that check's failure rather than ending the report. */
async function guarded(id: string, title: string, check: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof DoctorUsageError) throw error;
    return [{ id, title, status: 'fail', detail: describeAwsError(error) }];
  }
}

export async function runDoctor(ctx: DoctorContext, options: DoctorOptions): Promise<DoctorReport> {
  const identity = await whoAmI(ctx);
  const report: DoctorReport = {
    account: identity.account,
    caller: identity.arn,
    region: ctx.region,
    stackName: options.stackName,
    results: [],
  };
  const { result: stackResult, deployment } = await checkStack(ctx, options.stackName, options.construct);
  report.results.push(stackResult);
  if (!deployment) {
    report.results.push(
      skip('dependent', 'secrets, GitHub, webhook, mail, alarms, builds', 'not checked: the stack check failed'),
    );
    return report;
  }
  const { outputs, facts } = deployment;
  const logsHint =
    `the webhook function's log: https://${ctx.region}.console.aws.amazon.com/cloudwatch/home?region=${ctx.region}` +
    `#logsV2:log-groups$3FlogGroupNameFilter$3D${encodeURIComponent(deployment.stackName)}`;

  const secretsAndAfter = guarded('secrets', 'secrets', async () => {
    const { results, secrets } = await checkSecrets(ctx, deployment);
    const [github, webhook] = await Promise.all([
      guarded('github', 'GitHub', async () => [await checkGitHub(ctx, facts, secrets.github)]),
      guarded('webhook', 'webhook', () => checkWebhook(ctx, outputs.WebhookUrl!, secrets.webhook, logsHint)),
    ]);
    return [...results, ...github, ...webhook];
  });
  const mail = guarded('ses', 'SES', () => checkMail(ctx, facts));
  const alarms = guarded('alarms', 'alarms', async () => [await checkAlarmSubscriptions(ctx, outputs.AlarmTopicArn!)]);
  const builds = (async () => {
    const found = await findBuildProjects(ctx, facts);
    const capacity = await guarded('quota', 'CodeBuild quotas', () => checkBuildCapacity(ctx, facts, found.projects));
    return { results: [found.result, ...capacity], projects: found.projects, ok: found.result.status === 'pass' };
  })();

  const [secretLines, mailLines, alarmLines, buildLines] = await Promise.all([secretsAndAfter, mail, alarms, builds]);
  report.results.push(...secretLines, ...mailLines, ...alarmLines, ...buildLines.results);

  if (options.canary) {
    if (!buildLines.ok) report.results.push(skip('canary', 'canary', 'not run: the build projects check failed'));
    else report.results.push(...(await runCanary(ctx, deployment, buildLines.projects, options.canary)));
  }
  return report;
}
