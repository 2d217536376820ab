/**
 * The deployed stack: found, in a settled state, with every output the construct writes. Outputs are
 * matched by name, with or without the construct's id in front and a hash behind (`WebhookUrl` in the
 * stack `cdk deploy` makes, `GateWebhookUrlA1B2C3D4` for `new Tfgate(stack, 'Gate')` in a user's app).
 */
import { DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { accessFix, describeAwsError, errorName, isAccessDenied } from './aws-errors.js';
import { type DoctorContext, DoctorUsageError } from './context.js';
import { type DoctorFacts, parseDoctorFacts } from './facts.js';
import { type CheckResult, fail, pass, warn } from './result.js';

export const OUTPUT_NAMES = [
  'WebhookUrl',
  'ApprovalsUrl',
  'AlarmTopicArn',
  'StateMachineArn',
  'ArtifactsBucketName',
  'WebhookSecretName',
  'GithubSetupUrl',
  'GithubSetupSecretName',
  'GithubSetupLinkCommand',
  'GithubSecretName',
  'SignInSecretName',
  'SlackSecretName',
  'DoctorFacts',
] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];
/** Present only with `notifications.slack`. */
const OPTIONAL_OUTPUTS: ReadonlySet<OutputName> = new Set(['SlackSecretName']);

export interface Deployment {
  stackName: string;
  stackId: string;
  status: string;
  outputs: Partial<Record<OutputName, string>>;
  facts: DoctorFacts;
}

/** A stack name (CloudFormation: a letter, then letters, digits and hyphens, 128 at most) or a stack id. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const STACK_ID = /^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack\/[A-Za-z][A-Za-z0-9-]{0,127}\/[\w-]+$/;

export function assertStackName(name: string): void {
  if (!STACK_NAME.test(name) && !STACK_ID.test(name))
    throw new DoctorUsageError(
      `--stack ${JSON.stringify(name)} is not a CloudFormation stack name (a letter, then letters, digits and "-")`,
    );
}

const OUTPUT_KEY = new RegExp(
  `^([A-Za-z0-9]*?)(${[...OUTPUT_NAMES].sort((a, b) => b.length - a.length).join('|')})(?:[0-9A-F]{8})?$`,
);

/** Outputs grouped by the construct they came from (the id in front of the name; '' in tfgate's own stack). */
export function outputsByConstruct(stack: Stack): Map<string, Partial<Record<OutputName, string>>> {
  const groups = new Map<string, Partial<Record<OutputName, string>>>();
  for (const output of stack.Outputs ?? []) {
    const match = OUTPUT_KEY.exec(output.OutputKey ?? '');
    if (!match || output.OutputValue === undefined) continue;
    const scope = match[1]!;
    const group = groups.get(scope) ?? {};
    group[match[2] as OutputName] = output.OutputValue;
    groups.set(scope, group);
  }
  return groups;
}

const SETTLED = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);

export function consoleStackLink(region: string, stackId: string): string {
  return (
    `https://${region}.console.aws.amazon.com/cloudformation/home?region=${region}#/stacks/stackinfo?stackId=` +
    encodeURIComponent(stackId)
  );
}

export async function checkStack(
  ctx: DoctorContext,
  stackName: string,
  construct: string | undefined,
): Promise<{ result: CheckResult; deployment?: Deployment }> {
  const title = `stack ${stackName} in ${ctx.region}`;
  let stack: Stack | undefined;
  try {
    const answer = await ctx.clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    stack = answer.Stacks?.[0];
  } catch (error) {
    if (errorName(error) === 'ValidationError' && /does not exist/i.test((error as Error).message ?? '')) {
      return {
        result: fail('stack', title, 'not found', [
          'deploy it: npx cdk deploy (see docs/aws.md "Deploy")',
          'deployed under another name or region? tfgate doctor --stack NAME --region REGION',
        ]),
      };
    }
    return {
      result: fail(
        'stack',
        title,
        describeAwsError(error),
        isAccessDenied(error) ? [accessFix('cloudformation:DescribeStacks')] : [],
      ),
    };
  }
  if (!stack) return { result: fail('stack', title, 'not found', ['deploy it: npx cdk deploy']) };

  const status = stack.StackStatus ?? 'UNKNOWN';
  const link = consoleStackLink(ctx.region, stack.StackId ?? stackName);
  if (status.endsWith('_IN_PROGRESS')) {
    return { result: fail('stack', title, `${status}: a deployment is still running`, [`wait for it: ${link}`]) };
  }
  if (status === 'ROLLBACK_COMPLETE' || status.endsWith('_FAILED') || status.startsWith('DELETE_')) {
    return {
      result: fail('stack', title, `${status}: the stack is not usable`, [
        `see why in its events: ${link}`,
        status === 'ROLLBACK_COMPLETE'
          ? 'a first deploy that rolled back must be deleted before deploying again: ' +
            'npx cdk destroy, then npx cdk deploy'
          : 'fix the cause, then npx cdk deploy',
      ]),
    };
  }

  const groups = outputsByConstruct(stack);
  if (groups.size === 0) {
    return {
      result: fail('stack', title, `${status}, but it has no tfgate outputs`, [
        'is this the tfgate stack? tfgate doctor --stack NAME',
        'a Tfgate construct with outputs: false cannot be checked; deploy it with outputs on',
      ]),
    };
  }
  let scope = construct;
  if (scope === undefined) {
    if (groups.size > 1) {
      throw new DoctorUsageError(
        `stack ${stackName} holds ${groups.size} tfgate constructs (${[...groups.keys()]
          .map((key) => key || '(top level)')
          .join(', ')}): name one with --construct ID`,
      );
    }
    scope = [...groups.keys()][0]!;
  }
  const outputs = groups.get(scope);
  if (!outputs) {
    return {
      result: fail('stack', title, `no tfgate construct with id ${JSON.stringify(scope)}`, [
        `known: ${[...groups.keys()].map((key) => key || '(top level)').join(', ')}`,
      ]),
    };
  }
  const missing = OUTPUT_NAMES.filter((name) => !OPTIONAL_OUTPUTS.has(name) && outputs[name] === undefined);
  if (missing.length > 0) {
    return {
      result: fail('stack', title, `${status}, outputs missing: ${missing.join(', ')}`, [
        'deployed with an older tfgate? deploy this version: npx cdk deploy',
      ]),
    };
  }
  let facts: DoctorFacts;
  try {
    facts = parseDoctorFacts(outputs.DoctorFacts!);
  } catch (error) {
    return {
      result: fail('stack', title, `${status}: ${(error as Error).message}`, [
        'deploy this version of tfgate: npx cdk deploy',
      ]),
    };
  }
  if (facts.slack && outputs.SlackSecretName === undefined) {
    return {
      result: fail('stack', title, `${status}, output missing: SlackSecretName`, ['redeploy: npx cdk deploy']),
    };
  }
  const deployment: Deployment = {
    stackName: stack.StackName ?? stackName,
    stackId: stack.StackId ?? stackName,
    status,
    outputs,
    facts,
  };
  const found = `${status}; outputs present (webhook ${outputs.WebhookUrl}, pages ${outputs.ApprovalsUrl})`;
  if (SETTLED.has(status)) return { result: pass('stack', title, found), deployment };
  // UPDATE_ROLLBACK_COMPLETE: the last update failed and the previous version still runs.
  return {
    result: warn('stack', title, `${found}; the last update rolled back, the previous version runs`, [
      `see why in its events: ${link}`,
    ]),
    deployment,
  };
}
