import * as z from 'zod/mini';
import type { RepositoryConfig, TfgateConfig } from './load.js';
import {
  BRANCH_NAME,
  DIRECTORY,
  DRIFT_SCHEDULE,
  EMAIL,
  ENV_NAME_PATTERN,
  SANDBOX_READ_ONLY_PATH,
  ENVIRONMENT_NAME,
  GITHUB_LOGIN,
  isPersonEntry,
  isSafeCloneUrl,
  PERSON_ENTRY_RULE,
  MAX_REQUIRED_APPROVALS,
  peopleBindingProblems,
  MAX_WAIT_SECONDS,
  REPOSITORY_NAME,
  ROLE_ARN,
  TERRAFORM_VERSION,
} from './patterns.js';

/**
 * The configuration as the Lambda functions receive it (CONFIG): tfgate.yaml already validated and
 * normalized at `cdk synth` (durations in seconds, defaults filled in, approvers lower-cased), as JSON.
 *
 * The functions still check it: a hand-edited environment variable must not get past the rules
 * tfgate.yaml is held to. The same patterns apply (patterns.ts); what the synth already did (YAML,
 * line numbers, defaults, durations) is not redone, so a function needs neither the YAML parser nor the
 * full schema, and zod/mini keeps the check small enough for a fast cold start.
 */

const matching = (pattern: RegExp, message: string) => z.string().check(z.regex(pattern, message));
const waitSeconds = z.int().check(z.minimum(1), z.maximum(MAX_WAIT_SECONDS));

const person = z.string().check(
  z.refine(isPersonEntry, PERSON_ENTRY_RULE),
  z.refine((entry) => entry === entry.toLowerCase(), 'must be lower-case'),
);

const environment = z.strictObject({
  name: matching(
    ENVIRONMENT_NAME,
    'must be lower-case letters, digits, "-" or "_" (it is the Terraform workspace name)',
  ),
  approval: z.optional(
    z.strictObject({
      approvers: z.array(person).check(z.minLength(1)),
      required: z.int().check(z.minimum(1), z.maximum(MAX_REQUIRED_APPROVALS)),
      timeoutSeconds: waitSeconds,
      allowSelfApproval: z.boolean(),
    }),
  ),
  roleArn: z.optional(matching(ROLE_ARN, 'must be an IAM role ARN')),
  planRoleArn: z.optional(matching(ROLE_ARN, 'must be an IAM role ARN')),
});

const repository = z.strictObject({
  name: matching(REPOSITORY_NAME, 'must be owner/name as GitHub spells it'),
  branch: matching(BRANCH_NAME, 'must be a plain branch name'),
  directory: matching(DIRECTORY, 'must be a relative path inside the repository'),
  cloneUrl: z.optional(z.string().check(z.refine(isSafeCloneUrl, 'must be a URL or path without spaces'))),
  pullRequests: z.optional(z.strictObject({ plan: z.boolean() })),
  environments: z.array(environment).check(
    z.minLength(1),
    z.refine((list) => new Set(list.map((env) => env.name)).size === list.length, 'lists an environment twice'),
  ),
  drift: z.optional(
    z.strictObject({
      schedule: matching(DRIFT_SCHEDULE, 'must be like rate(6 hours)'),
      intervalSeconds: z.int().check(z.minimum(1)),
    }),
  ),
});

const lowerCase = z.refine<string>((entry) => entry === entry.toLowerCase(), 'must be lower-case');
const personBinding = z.strictObject({
  github: z.string().check(z.regex(GITHUB_LOGIN, 'must be a GitHub login'), lowerCase),
  emails: z.array(z.string().check(z.regex(EMAIL, 'must be an email address'), lowerCase)).check(z.minLength(1)),
});

const resolvedConfig = z.strictObject({
  repositories: z.array(repository).check(
    z.minLength(1),
    z.refine(
      (list) => new Set(list.map((repo) => repo.name.toLowerCase())).size === list.length,
      'lists a repository twice',
    ),
  ),
  notifications: z.strictObject({
    slack: z.optional(z.strictObject({ webhookUrl: z.string().check(z.minLength(1)) })),
    email: z.optional(
      z.strictObject({
        from: matching(EMAIL, 'must be an email address'),
        smtp: z.optional(
          z.strictObject({
            host: z.string().check(z.minLength(1)),
            port: z.int().check(z.minimum(1), z.maximum(65535)),
          }),
        ),
        identity: z.enum(['create', 'existing']),
      }),
    ),
    alarms: z.optional(z.strictObject({ email: matching(EMAIL, 'must be an email address') })),
  }),
  access: z.strictObject({ viewers: z.array(person) }),
  // Optional: a CONFIG written before `people:` existed binds nobody.
  people: z.optional(
    z
      .array(personBinding)
      .check(z.refine((list) => peopleBindingProblems(list).length === 0, 'binds a login or an address to two people')),
  ),
  github: z.strictObject({ apiUrl: z.url() }),
  terraform: z.strictObject({
    version: z.optional(matching(TERRAFORM_VERSION, 'must be a version like 1.11.4')),
    planCompute: z.enum(['lambda', 'ec2']),
    env: z.optional(
      z.strictObject({
        allow: z.optional(z.array(matching(ENV_NAME_PATTERN, 'must be a variable name or prefix*'))),
        deny: z.array(matching(ENV_NAME_PATTERN, 'must be a variable name or prefix*')),
      }),
    ),
    sandbox: z.optional(z.strictObject({ readOnly: z.array(matching(SANDBOX_READ_ONLY_PATH, 'must be a path')) })),
  }),
  timeouts: z.strictObject({
    planSeconds: waitSeconds,
    applySeconds: waitSeconds,
    lockWaitSeconds: waitSeconds,
    queueSeconds: waitSeconds,
  }),
});

/** What the CDK stack puts in CONFIG. */
export function encodeResolvedConfig(config: TfgateConfig): string {
  return JSON.stringify(config);
}

/**
 * Reads CONFIG; throws an Error naming `source`, the field and the rule (never the value) when it is not a valid
 * resolved configuration.
 */
export function decodeResolvedConfig(text: string, source = 'CONFIG'): TfgateConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(
      `${source} is not JSON: it must be the resolved configuration that \`cdk synth\` writes (run npx cdk deploy ` +
        `again)`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(
      `${source} is not a JSON object: it must be the resolved configuration that \`cdk synth\` writes (run npx ` +
        `cdk deploy again)`,
    );
  }
  const result = resolvedConfig.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 5).map((issue) => {
      const path = issue.path.map(String).join('.') || 'top level';
      // zod/mini ships no message texts; the code and what was expected say enough for a deploy problem.
      const rule =
        issue.code === 'custom' || issue.code === 'invalid_format'
          ? issue.message
          : issue.code === 'invalid_type'
            ? `expected ${issue.expected}`
            : issue.code === 'unrecognized_keys'
              ? `unknown key "${issue.keys[0]}"`
              : issue.code.replaceAll('_', ' ');
      return `${path}: ${rule}`;
    });
    throw new Error(`${source} is not a valid resolved configuration: ${problems.join('; ')}`);
  }
  const { people, ...rest } = result.data;
  const config: TfgateConfig = { ...rest, people: people ?? [] };
  return config;
}

/** GitHub treats owner/name case-insensitively, and so does the configuration. */
export function findRepository(config: TfgateConfig, fullName: string): RepositoryConfig | undefined {
  const wanted = fullName.toLowerCase();
  return config.repositories.find((repo) => repo.name.toLowerCase() === wanted);
}

/** Pull requests are planned unless the repository says `pullRequests: { plan: false }`. */
export function plansPullRequests(repository: RepositoryConfig): boolean {
  return repository.pullRequests?.plan ?? true;
}
