import type { TfgateConfig } from '../lambdas/core/config/load.js';

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
  /** The role Terraform assumes in this environment; every repository must agree on it. */
  roleArn?: string;
}

/**
 * One build project serves one environment name for every repository, so the repositories must agree
 * on the role that environment's Terraform runs as: a silent pick of one of two ARNs would run one
 * repository's plans with another's credentials.
 */
export function buildEnvironments(config: TfgateConfig): BuildEnvironment[] {
  const byName = new Map<string, { roleArns: Map<string, string[]>; repositories: string[] }>();
  for (const repo of config.repositories) {
    for (const env of repo.environments) {
      let entry = byName.get(env.name);
      if (!entry) {
        entry = { roleArns: new Map(), repositories: [] };
        byName.set(env.name, entry);
      }
      entry.repositories.push(repo.name);
      const key = env.roleArn ?? '';
      entry.roleArns.set(key, [...(entry.roleArns.get(key) ?? []), repo.name]);
    }
  }
  return [...byName.entries()].map(([name, entry]) => {
    if (entry.roleArns.size > 1) {
      const described = [...entry.roleArns.entries()]
        .map(([arn, repos]) => `${arn === '' ? 'no roleArn' : arn} (${repos.join(', ')})`)
        .join('; ');
      throw new Error(
        `environment "${name}" has different roleArn values across repositories: ${described}. ` +
          'One build project serves each environment, so every repository must give it the same roleArn (or none).',
      );
    }
    const [roleArn] = [...entry.roleArns.keys()];
    return roleArn ? { name, roleArn } : { name };
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
