/**
 * The build projects as deployed, the concurrent-build quota of each compute type they use, and
 * (with Lambda-compute plans) CodeBuild Lambda compute in this region. New accounts start with 0 or 1
 * concurrent builds for some compute types: with 0 every build is refused, with 1 a pull-request plan
 * and a push's plan already wait for each other.
 */
import { BatchGetProjectsCommand, type Project } from '@aws-sdk/client-codebuild';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand } from '@aws-sdk/client-service-quotas';
import { BUILD_KINDS, type BuildKind, buildProjectName } from '../domain/builds.js';
import { accessFix, describeAwsError, errorName, isAccessDenied } from './aws-errors.js';
import type { DoctorContext } from './context.js';
import type { DoctorFacts } from './facts.js';
import { type CheckResult, fail, pass, skip, warn } from './result.js';

export interface BuildProject {
  name: string;
  environment: string;
  kind: BuildKind;
  /** CodeBuild's environment type (ARM_CONTAINER, ARM_LAMBDA_CONTAINER, …) and compute type. */
  environmentType: string;
  computeType: string;
  /** The project's environment variables (TFGATE_ARTIFACTS, …): the build contract as deployed. */
  variables: Record<string, string>;
}

/**
 * Quota codes of "Concurrently running builds for <name> environment" (service code `codebuild`), by
 * environment type and compute type. The codes are the same in every region.
 */
const CONCURRENCY_QUOTAS: Record<string, { name: string; code: string }> = {
  'ARM_CONTAINER/BUILD_GENERAL1_SMALL': { name: 'ARM/Small', code: 'L-5ED1D25B' },
  'ARM_CONTAINER/BUILD_GENERAL1_LARGE': { name: 'ARM/Large', code: 'L-596BEAB4' },
  'ARM_LAMBDA_CONTAINER/BUILD_LAMBDA_1GB': { name: 'ARM Lambda/1GB', code: 'L-FD92223D' },
  'ARM_LAMBDA_CONTAINER/BUILD_LAMBDA_2GB': { name: 'ARM Lambda/2GB', code: 'L-DE99852F' },
  'ARM_LAMBDA_CONTAINER/BUILD_LAMBDA_4GB': { name: 'ARM Lambda/4GB', code: 'L-72045165' },
  'ARM_LAMBDA_CONTAINER/BUILD_LAMBDA_8GB': { name: 'ARM Lambda/8GB', code: 'L-546A802A' },
  'ARM_LAMBDA_CONTAINER/BUILD_LAMBDA_10GB': { name: 'ARM Lambda/10GB', code: 'L-36AF3CA5' },
  'LINUX_CONTAINER/BUILD_GENERAL1_SMALL': { name: 'Linux/Small', code: 'L-9D07B6EF' },
  'LINUX_CONTAINER/BUILD_GENERAL1_MEDIUM': { name: 'Linux/Medium', code: 'L-2DC20C30' },
  'LINUX_CONTAINER/BUILD_GENERAL1_LARGE': { name: 'Linux/Large', code: 'L-4DDC4A99' },
  'LINUX_CONTAINER/BUILD_GENERAL1_XLARGE': { name: 'Linux/XLarge', code: 'L-04E5CA62' },
  'LINUX_CONTAINER/BUILD_GENERAL1_2XLARGE': { name: 'Linux/2XLarge', code: 'L-0397D009' },
  'LINUX_LAMBDA_CONTAINER/BUILD_LAMBDA_1GB': { name: 'Linux Lambda/1GB', code: 'L-03FBB1ED' },
  'LINUX_LAMBDA_CONTAINER/BUILD_LAMBDA_2GB': { name: 'Linux Lambda/2GB', code: 'L-1DFDD5F9' },
  'LINUX_LAMBDA_CONTAINER/BUILD_LAMBDA_4GB': { name: 'Linux Lambda/4GB', code: 'L-39DB2B0B' },
  'LINUX_LAMBDA_CONTAINER/BUILD_LAMBDA_8GB': { name: 'Linux Lambda/8GB', code: 'L-049948E0' },
  'LINUX_LAMBDA_CONTAINER/BUILD_LAMBDA_10GB': { name: 'Linux Lambda/10GB', code: 'L-E692F494' },
};

export const isLambdaCompute = (environmentType: string) => environmentType.endsWith('_LAMBDA_CONTAINER');

/** BatchGetProjects takes at most 100 names a call. */
const PROJECTS_PER_CALL = 100;

export async function findBuildProjects(
  ctx: DoctorContext,
  facts: DoctorFacts,
): Promise<{ result: CheckResult; projects: BuildProject[] }> {
  const title = 'CodeBuild projects';
  const wanted = facts.environments.flatMap((environment) =>
    BUILD_KINDS.map((kind) => ({ name: buildProjectName(facts.projectPrefix, environment, kind), environment, kind })),
  );
  const found: Project[] = [];
  const notFound: string[] = [];
  try {
    for (let i = 0; i < wanted.length; i += PROJECTS_PER_CALL) {
      const answer = await ctx.clients.codeBuild.send(
        new BatchGetProjectsCommand({ names: wanted.slice(i, i + PROJECTS_PER_CALL).map((w) => w.name) }),
      );
      found.push(...(answer.projects ?? []));
      notFound.push(...(answer.projectsNotFound ?? []));
    }
  } catch (error) {
    return {
      result: fail('codebuild.projects', title, describeAwsError(error), [
        ...(isAccessDenied(error) ? [accessFix('codebuild:BatchGetProjects')] : []),
      ]),
      projects: [],
    };
  }
  const byName = new Map(found.map((project) => [project.name, project]));
  const projects: BuildProject[] = [];
  for (const w of wanted) {
    const project = byName.get(w.name);
    if (!project) continue;
    projects.push({
      ...w,
      environmentType: project.environment?.type ?? 'UNKNOWN',
      computeType: project.environment?.computeType ?? 'UNKNOWN',
      variables: Object.fromEntries(
        (project.environment?.environmentVariables ?? []).map((v) => [v.name ?? '', v.value ?? '']),
      ),
    });
  }
  const missing = wanted.filter((w) => !byName.has(w.name)).map((w) => w.name);
  if (missing.length > 0)
    return {
      result: fail('codebuild.projects', title, `missing: ${missing.join(', ')}`, [
        'the stack and its projects differ (deleted by hand?): npx cdk deploy',
      ]),
      projects,
    };
  return {
    result: pass(
      'codebuild.projects',
      title,
      `${projects.length} (${facts.environments.join(', ')} × plan, apply, pr-plan)`,
    ),
    projects,
  };
}

type QuotaAnswer = { value: number; applied: boolean } | { missing: true } | { error: unknown };

async function concurrencyQuota(ctx: DoctorContext, code: string): Promise<QuotaAnswer> {
  const input = { ServiceCode: 'codebuild', QuotaCode: code };
  try {
    const answer = await ctx.clients.serviceQuotas.send(new GetServiceQuotaCommand(input));
    if (typeof answer.Quota?.Value === 'number') return { value: answer.Quota.Value, applied: true };
  } catch (error) {
    if (errorName(error) !== 'NoSuchResourceException') return { error };
  }
  // Service Quotas returns no applied value for some quotas; the default is then what holds.
  try {
    const answer = await ctx.clients.serviceQuotas.send(new GetAWSDefaultServiceQuotaCommand(input));
    if (typeof answer.Quota?.Value === 'number') return { value: answer.Quota.Value, applied: false };
    return { missing: true };
  } catch (error) {
    if (errorName(error) === 'NoSuchResourceException') return { missing: true };
    return { error };
  }
}

function increaseFix(ctx: DoctorContext, code: string): string[] {
  return [
    `aws service-quotas request-service-quota-increase --region ${ctx.region} --service-code codebuild --quota-code ` +
      `${code} --desired-value 10`,
    `https://${ctx.region}.console.aws.amazon.com/servicequotas/home/services/codebuild/quotas/${code}`,
  ];
}

/** One line per compute type in use: its concurrent-build quota (0 fails, 1 warns), and Lambda compute offered. */
export async function checkBuildCapacity(
  ctx: DoctorContext,
  facts: DoctorFacts,
  projects: BuildProject[],
): Promise<CheckResult[]> {
  const groups = new Map<string, BuildProject[]>();
  for (const project of projects) {
    const key = `${project.environmentType}/${project.computeType}`;
    groups.set(key, [...(groups.get(key) ?? []), project]);
  }
  const results: CheckResult[] = [];
  let lambdaOffered: boolean | undefined;
  for (const [key, members] of groups) {
    const id = `quota.${key.replace('/', '.')}`;
    const kinds = [...new Set(members.map((m) => m.kind))].join(', ');
    const quota = CONCURRENCY_QUOTAS[key];
    const lambda = isLambdaCompute(members[0]!.environmentType);
    if (!quota) {
      results.push(
        warn(id, `CodeBuild ${key} concurrent builds (${kinds})`, 'no known quota for this compute type', [
          `https://${ctx.region}.console.aws.amazon.com/servicequotas/home/services/codebuild/quotas`,
        ]),
      );
      continue;
    }
    const title = `CodeBuild ${quota.name} concurrent builds (${kinds})`;
    const answer = await concurrencyQuota(ctx, quota.code);
    if ('error' in answer) {
      results.push(
        fail(
          id,
          title,
          describeAwsError(answer.error),
          isAccessDenied(answer.error) ? [accessFix('servicequotas:GetServiceQuota')] : [],
        ),
      );
      continue;
    }
    if ('missing' in answer) {
      if (lambda) lambdaOffered = false;
      results.push(
        fail(id, title, `the quota ${quota.code} does not exist in ${ctx.region}`, [
          lambda
            ? 'CodeBuild Lambda compute is not offered here: set terraform.planCompute: ec2 in tfgate.yaml and redeploy'
            : 'this compute type is not offered here',
        ]),
      );
      continue;
    }
    if (lambda) lambdaOffered = true;
    const which = answer.applied ? '' : ' (the default; no applied value)';
    if (answer.value < 1)
      results.push(
        fail(id, title, `${answer.value}${which}: every such build is refused`, increaseFix(ctx, quota.code)),
      );
    else if (answer.value < 2)
      results.push(
        warn(
          id,
          title,
          `${answer.value}${which}: builds wait for each other (a pull-request plan delays a push's)`,
          increaseFix(ctx, quota.code),
        ),
      );
    else results.push(pass(id, title, `${answer.value}${which}`));
  }

  const lambdaTitle = `CodeBuild Lambda compute in ${ctx.region}`;
  const lambdaProjects = projects.filter((p) => isLambdaCompute(p.environmentType));
  if (lambdaProjects.length === 0) {
    results.push(
      skip(
        'codebuild.lambda-compute',
        lambdaTitle,
        facts.planCompute === 'ec2' ? 'not used (terraform.planCompute: ec2)' : 'no project uses it',
      ),
    );
  } else if (lambdaOffered === true) {
    results.push(
      pass('codebuild.lambda-compute', lambdaTitle, `offered; ${lambdaProjects.length} plan projects run on it`),
    );
  } else if (lambdaOffered === undefined) {
    results.push(
      fail('codebuild.lambda-compute', lambdaTitle, 'could not tell: its quota could not be read (see above)'),
    );
  } else {
    results.push(
      fail('codebuild.lambda-compute', lambdaTitle, 'not offered in this region', [
        'set terraform.planCompute: ec2 in tfgate.yaml and redeploy: npx cdk deploy',
      ]),
    );
  }
  return results;
}
