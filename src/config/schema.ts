import { z } from 'zod';
import { parseDurationSeconds } from './duration.js';
import {
  BRANCH_NAME,
  DIRECTORY,
  DRIFT_SCHEDULE,
  EMAIL,
  ENV_NAME_PATTERN,
  ENVIRONMENT_NAME,
  GITHUB_LOGIN,
  GITHUB_TEAM_ENTRY,
  isPersonEntry,
  MAX_REQUIRED_APPROVALS,
  isSafeCloneUrl,
  MAX_WAIT_SECONDS,
  MISSING_APPROVERS,
  PERSON_ENTRY_RULE,
  peopleBindingProblems,
  REPOSITORY_NAME,
  ROLE_ARN,
  SANDBOX_READ_ONLY_PATH,
  TERRAFORM_VERSION,
} from './patterns.js';

/**
 * `timeouts.plan` when unset: an hour, or as long as the plan compute allows (Lambda compute: 15 minutes),
 * which the synth then takes without a warning.
 */
export const DEFAULT_PLAN_TIMEOUT = '1h';
export const DEFAULT_PLAN_TIMEOUT_SECONDS = 3600;

/**
 * The schema of tfgate.yaml. Everything a run does is decided by these values, and several of them
 * end up in git command lines, file paths and terraform workspace names, so the patterns are strict:
 * nothing with shell or path meaning gets past this point.
 */

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => parseDurationSeconds(text) !== undefined, {
      message: 'must be a duration such as 90s, 30m, 24h or 7d',
    })
    .refine((text) => (parseDurationSeconds(text) ?? 0) <= MAX_WAIT_SECONDS, { message: 'must be at most 14d' });

const personEntry = z.string().refine(isPersonEntry, PERSON_ENTRY_RULE);

const approvalSchema = z.strictObject({
  // Required and never empty: a gate nobody is named for would be a gate anyone opens.
  approvers: z
    .array(personEntry, { error: (issue) => (issue.input === undefined ? MISSING_APPROVERS : undefined) })
    .min(1, MISSING_APPROVERS),
  // The two-person rule: this many distinct approvers, none of them among the change's people.
  required: z
    .number()
    .int('must be a whole number of approvers')
    .min(1, 'must be at least 1')
    .max(MAX_REQUIRED_APPROVALS, `must be at most ${MAX_REQUIRED_APPROVALS}`)
    .default(1),
  timeout: duration('24h'),
  allowSelfApproval: z.boolean().default(false),
});

const environmentSchema = z.strictObject({
  name: z
    .string()
    .regex(ENVIRONMENT_NAME, 'must be lower-case letters, digits, "-" or "_" (it is the Terraform workspace name)'),
  approval: approvalSchema.optional(),
  roleArn: z.string().regex(ROLE_ARN, 'must be an IAM role ARN').optional(),
  planRoleArn: z.string().regex(ROLE_ARN, 'must be an IAM role ARN (a read-only role for plans)').optional(),
});

const repositorySchema = z
  .strictObject({
    name: z.string().regex(REPOSITORY_NAME, 'must be owner/name as GitHub spells it'),
    branch: z.string().regex(BRANCH_NAME, 'must be a plain branch name').default('main'),
    directory: z.string().regex(DIRECTORY, 'must be a relative path inside the repository').default('.'),
    cloneUrl: z.string().min(1).refine(isSafeCloneUrl, 'must be a URL or path without spaces').optional(),
    pullRequests: z.strictObject({ plan: z.boolean().default(true) }).optional(),
    environments: z
      .array(environmentSchema, {
        error: (issue) =>
          issue.input === undefined
            ? 'list the environments in promotion order, e.g. ops, then apps with approval.approvers'
            : undefined,
      })
      .min(1),
    drift: z.strictObject({ schedule: z.string().regex(DRIFT_SCHEDULE, 'must be like rate(6 hours)') }).optional(),
  })
  .superRefine((repo, ctx) => {
    const seen = new Set<string>();
    repo.environments.forEach((env, index) => {
      if (seen.has(env.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', index, 'name'],
          message: `environment "${env.name}" is listed twice`,
        });
      }
      seen.add(env.name);
    });
  });

// One person, however they sign in: a GitHub sign-in takes on these addresses, and an email sign-in with one of them
// takes on the login.
const personBinding = z.strictObject({
  github: z.string().regex(GITHUB_LOGIN, 'must be a GitHub login as GitHub spells it (alice, without @)'),
  emails: z.array(z.string().regex(EMAIL, 'must be an email address')).min(1, 'bind at least one address'),
});

export const configSchema = z
  .strictObject({
    repositories: z.array(repositorySchema).min(1),
    notifications: z
      .strictObject({
        slack: z.strictObject({ webhookUrl: z.string().min(1) }).optional(),
        email: z
          .strictObject({
            from: z.string().regex(EMAIL, 'must be an email address'),
            smtp: z
              .strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535).default(25) })
              .optional(),
            // AWS only. SES refuses to create an identity that already exists, so the stack creates one only when
            // asked.
            identity: z.enum(['create', 'existing']).default('existing'),
          })
          .optional(),
        // AWS only: where CloudWatch alarms are mailed (an SNS email subscription, confirmed once by the recipient).
        alarms: z.strictObject({ email: z.string().regex(EMAIL, 'must be an email address') }).optional(),
      })
      .default({}),
    // Who may look at runs besides the approvers (read-only).
    access: z.strictObject({ viewers: z.array(personEntry).default([]) }).default({ viewers: [] }),
    people: z.array(personBinding).default([]),
    github: z
      .strictObject({ apiUrl: z.url().default('https://api.github.com') })
      .default({ apiUrl: 'https://api.github.com' }),
    terraform: z
      .strictObject({
        // No default: locally the terraform found is used (and named at start); the AWS synth requires it.
        version: z.string().regex(TERRAFORM_VERSION, 'must be a version like 1.11.4').optional(),
        // AWS only: plans start in seconds on CodeBuild Lambda compute (15 minutes at most); ec2 for longer plans.
        planCompute: z.enum(['lambda', 'ec2']).default('lambda'),
        // Local builds: which of the user's environment variables reach terraform (see build-env.ts).
        env: z
          .strictObject({
            allow: z
              .array(
                z.string().regex(ENV_NAME_PATTERN, 'must be a variable name, or a prefix ending in * (like TF_VAR_*)'),
              )
              .optional(),
            deny: z
              .array(
                z.string().regex(ENV_NAME_PATTERN, 'must be a variable name, or a prefix ending in * (like TF_VAR_*)'),
              )
              .default([]),
          })
          .optional(),
        // Local builds: what of the user's machine deploy builds see, read-only (never pull-request plans).
        sandbox: z
          .strictObject({
            readOnly: z
              .array(
                z
                  .string()
                  .regex(
                    SANDBOX_READ_ONLY_PATH,
                    'must be an absolute path or one under your home (~/.aws), without ".." and not / or ~ itself',
                  ),
              )
              .default([]),
          })
          .optional(),
      })
      .default({ planCompute: 'lambda' }),
    timeouts: z
      .strictObject({
        plan: duration(DEFAULT_PLAN_TIMEOUT),
        apply: duration('2h'),
        lockWait: duration('48h'),
        queue: duration('30m'),
      })
      .default({ plan: DEFAULT_PLAN_TIMEOUT, apply: '2h', lockWait: '48h', queue: '30m' }),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.repositories.forEach((repo, index) => {
      const key = repo.name.toLowerCase();
      if (seen.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['repositories', index, 'name'],
          message: `repository "${repo.name}" is listed twice`,
        });
      seen.add(key);
    });
    // approval.required: a team can grow, a list of people cannot. Entries `people:` binds to one login are one
    // person, so more approvals than distinct named people would never be met.
    const loginOf = new Map(
      config.people.flatMap((person) =>
        person.emails.map((email) => [email.toLowerCase(), person.github.toLowerCase()]),
      ),
    );
    config.repositories.forEach((repo, repoIndex) => {
      repo.environments.forEach((env, envIndex) => {
        const approval = env.approval;
        if (!approval || approval.approvers.some((entry) => GITHUB_TEAM_ENTRY.test(entry))) return;
        const named = new Set(
          approval.approvers.map((entry) => {
            const lower = entry.toLowerCase();
            return lower.startsWith('@') ? lower.slice(1) : (loginOf.get(lower) ?? lower);
          }),
        );
        if (approval.required > named.size)
          ctx.addIssue({
            code: 'custom',
            path: ['repositories', repoIndex, 'environments', envIndex, 'approval', 'required'],
            message:
              `requires ${approval.required} distinct approvers but only ${named.size} ` +
              `${named.size === 1 ? 'is' : 'are'} listed (name more approvers, or a team; addresses bound to one ` +
              'login under people: are one person)',
          });
      });
    });
    for (const problem of peopleBindingProblems(config.people)) {
      ctx.addIssue({
        code: 'custom',
        path:
          problem.field === 'github'
            ? ['people', problem.index, 'github']
            : ['people', problem.index, 'emails', problem.emailIndex!],
        message: problem.message,
      });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;
