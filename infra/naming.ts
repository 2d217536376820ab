import type { TfgateConfig } from '../src/config/load.js';

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
