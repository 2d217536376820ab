import { Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { TfgateConfig } from '../src/config/load.js';
import { SynthRefusal } from '../src/config/synth-refusal.js';

/** A CodeBuild project name is at most 255 characters; environment names take up to 63 of them. */
const MAX_PREFIX_LENGTH = 60;

/**
 * The prefix of every build project (`<prefix>-<environment>`) and of the state machine name. It is
 * derived from the stack name so two tfgate stacks in one account and region never collide.
 */
export function buildProjectPrefix(stackName: string): string {
  const lower = stackName.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const prefixed = lower.startsWith('tfgate') ? lower : `tfgate-${lower}`;
  return prefixed.slice(0, MAX_PREFIX_LENGTH).replace(/-+$/, '');
}

export interface BuildEnvironment {
  name: string;
  /** The role the apply build's Terraform assumes in this environment; every repository must agree on it. */
  roleArn?: string;
  /** The read-only role plan builds (deploy and pull-request plans) assume; every repository must agree on it. */
  planRoleArn?: string;
}

/**
 * One set of build projects serves one environment name for every repository, so the repositories must
 * agree on the roles that environment's Terraform runs as: a silent pick of one of two ARNs would run
 * one repository's builds with another's credentials.
 */
export function buildEnvironments(config: TfgateConfig): BuildEnvironment[] {
  const byName = new Map<string, { roleArn: Map<string, string[]>; planRoleArn: Map<string, string[]> }>();
  for (const repo of config.repositories) {
    for (const env of repo.environments) {
      let entry = byName.get(env.name);
      if (!entry) {
        entry = { roleArn: new Map(), planRoleArn: new Map() };
        byName.set(env.name, entry);
      }
      for (const key of ['roleArn', 'planRoleArn'] as const) {
        const arn = env[key] ?? '';
        entry[key].set(arn, [...(entry[key].get(arn) ?? []), repo.name]);
      }
    }
  }
  return [...byName.entries()].map(([name, entry]) => {
    for (const key of ['roleArn', 'planRoleArn'] as const) {
      if (entry[key].size > 1) {
        const described = [...entry[key].entries()]
          .map(([arn, repos]) => `${arn === '' ? `no ${key}` : arn} (${repos.join(', ')})`)
          .join('; ');
        throw new Error(
          `environment "${name}" has different ${key} values across repositories: ${described}. ` +
            `One set of build projects serves each environment, so every repository must give it the same ${key} ` +
            `(or none).`,
        );
      }
    }
    const [roleArn] = [...entry.roleArn.keys()];
    const [planRoleArn] = [...entry.planRoleArn.keys()];
    return { name, ...(roleArn ? { roleArn } : {}), ...(planRoleArn ? { planRoleArn } : {}) };
  });
}

/** Environment names go into construct ids and output names, which want letters and digits only. */
export function pascalId(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/**
 * Regions where CodeBuild documents Lambda compute (the CodeBuild user guide, "Which regions support
 * AWS Lambda compute in CodeBuild?"). A region not listed may have gained it since: `tfgate doctor`
 * checks the account's own answer; the synth refuses only what the documentation rules out.
 */
export const LAMBDA_COMPUTE_REGIONS = new Set([
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
  'eu-central-1',
  'eu-west-1',
  'sa-east-1',
]);

/** One line: Lambda-compute plans where CodeBuild has no Lambda compute (an unresolved region passes). */
export function assertPlanComputeOffered(planCompute: string, region: string): void {
  if (planCompute !== 'lambda' || Token.isUnresolved(region) || LAMBDA_COMPUTE_REGIONS.has(region)) return;
  throw new SynthRefusal(
    `tfgate: terraform.planCompute is lambda, but CodeBuild offers no Lambda compute in ${region}; set ` +
      'terraform.planCompute: ec2 in tfgate.yaml',
  );
}

const NAMES_IN_USE = Symbol.for('tfgate.projectPrefixes');

/**
 * Build projects, the state machine and its log group are named after the prefix, so two Tfgate
 * constructs with one prefix in an app would collide at deploy (CloudFormation: "already exists"),
 * though the synth passed. Refused here, in one line.
 */
export function claimProjectPrefix(scope: Construct, prefix: string, path: string): void {
  const root = scope.node.root as unknown as { [NAMES_IN_USE]?: Map<string, string> };
  root[NAMES_IN_USE] ??= new Map();
  const stack = Stack.of(scope);
  // Names are unique per account and region: stacks bound elsewhere do not collide.
  const key = `${stack.account}/${stack.region}/${prefix}`;
  const owner = root[NAMES_IN_USE].get(key);
  if (owner !== undefined)
    throw new SynthRefusal(
      `tfgate: ${path} and ${owner} would both name their build projects and state machine ${prefix}-…; give ` +
        'each Tfgate its own name prop',
    );
  root[NAMES_IN_USE].set(key, path);
}
