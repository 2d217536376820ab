/**
 * What `tfgate doctor` needs to know about a deployment that the stack's other outputs do not say: the
 * build projects' names, the environments, the repositories, where GitHub is, and whether mail, GitHub
 * sign-in and Slack are in use. The construct writes it as the `DoctorFacts` stack output (no secret in
 * it), so the doctor checks the configuration that was deployed, not whatever tfgate.yaml is on the
 * operator's disk today.
 */
import * as z from 'zod/mini';
import type { TfgateConfig } from '../config/load.js';
import { ENVIRONMENT_NAME, GITHUB_LOGIN_ENTRY, GITHUB_TEAM_ENTRY, REPOSITORY_NAME } from '../config/patterns.js';
import { TfgateError } from '../domain/errors.js';

export const DOCTOR_FACTS_VERSION = 1;

export interface DoctorFacts {
  version: typeof DOCTOR_FACTS_VERSION;
  /** Build projects are `<projectPrefix>-<environment>-<plan|apply|pr-plan>`. */
  projectPrefix: string;
  /** Every environment name with build projects, in promotion order of first appearance. */
  environments: string[];
  repositories: string[];
  githubApiUrl: string;
  /** `notifications.email.from`: approval requests and sign-in links are mailed through SES from it. */
  mailFrom?: string;
  /** An approver or viewer is a GitHub login or team, so people sign in with GitHub (the sign-in secret). */
  githubSignIn: boolean;
  /** `notifications.slack` is set (the Slack secret must hold the webhook URL). */
  slack: boolean;
  planCompute: 'lambda' | 'ec2';
}

export class DoctorFactsError extends TfgateError {
  override name = 'DoctorFactsError';
}

export function doctorFactsOf(config: TfgateConfig, projectPrefix: string, environments: string[]): DoctorFacts {
  const people = [
    ...config.access.viewers,
    ...config.repositories.flatMap((repo) => repo.environments.flatMap((env) => env.approval?.approvers ?? [])),
  ];
  return {
    version: DOCTOR_FACTS_VERSION,
    projectPrefix,
    environments,
    repositories: config.repositories.map((repo) => repo.name),
    githubApiUrl: config.github.apiUrl,
    ...(config.notifications.email ? { mailFrom: config.notifications.email.from } : {}),
    githubSignIn: people.some((entry) => GITHUB_LOGIN_ENTRY.test(entry) || GITHUB_TEAM_ENTRY.test(entry)),
    slack: config.notifications.slack !== undefined,
    planCompute: config.terraform.planCompute,
  };
}

const factsSchema = z.object({
  version: z.literal(DOCTOR_FACTS_VERSION),
  projectPrefix: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,59}$/)),
  environments: z.array(z.string().check(z.regex(ENVIRONMENT_NAME))).check(z.minLength(1)),
  repositories: z.array(z.string().check(z.regex(REPOSITORY_NAME))),
  githubApiUrl: z.url({ protocol: /^https?$/ }),
  mailFrom: z.optional(z.string().check(z.minLength(3), z.maxLength(320))),
  githubSignIn: z.boolean(),
  slack: z.boolean(),
  planCompute: z.enum(['lambda', 'ec2']),
});

/** The output's value, checked: it reaches URLs and API calls the doctor makes. */
export function parseDoctorFacts(text: string): DoctorFacts {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DoctorFactsError('the DoctorFacts output is not JSON');
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > DOCTOR_FACTS_VERSION)
    throw new DoctorFactsError(`the stack was deployed by a newer tfgate (facts version ${version}): update tfgate`);
  const parsed = factsSchema.safeParse(value);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => issue.path.join('.') || '(top)').join(', ');
    throw new DoctorFactsError(`the DoctorFacts output is not what this tfgate writes (${where})`);
  }
  return parsed.data as DoctorFacts;
}
