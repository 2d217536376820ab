import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { parseDurationSeconds } from './duration.js';
import { configSchema, type RawConfig } from './schema.js';
import { TfgateError } from '../domain/errors.js';

export interface ApprovalPolicy {
  approvers: string[];
  /** Distinct approvers needed (the two-person rule), none of them among the change's people. */
  required: number;
  timeoutSeconds: number;
  allowSelfApproval: boolean;
}

export interface EnvironmentConfig {
  name: string;
  approval?: ApprovalPolicy;
  roleArn?: string;
  /** AWS: the read-only role plan builds assume; without it plan builds assume no role. */
  planRoleArn?: string;
}

export interface RepositoryConfig {
  name: string;
  branch: string;
  directory: string;
  cloneUrl?: string;
  /** Absent means `{ plan: true }`: same-repository pull requests are planned (read-only). */
  pullRequests?: { plan: boolean };
  environments: EnvironmentConfig[];
  drift?: { schedule: string; intervalSeconds: number };
}

/** One person of `people:`: a GitHub login and the addresses that are theirs (lower-case). */
export interface PersonBinding {
  github: string;
  emails: string[];
}

export interface TfgateConfig {
  repositories: RepositoryConfig[];
  notifications: {
    slack?: { webhookUrl: string };
    email?: { from: string; smtp?: { host: string; port: number }; identity: 'create' | 'existing' };
    alarms?: { email: string };
  };
  access: { viewers: string[] };
  /** Who is who: GitHub logins bound to sign-in addresses (empty when the file names nobody). */
  people: PersonBinding[];
  github: { apiUrl: string };
  /**
   * `version`: what AWS builds install (required there); unset locally, the terraform found is used.
   * `env`: local builds only (build-env.ts); absent means the default rule. `sandbox.readOnly`: local
   * deploy builds only, what of the user's machine they see (absolute or `~/` paths).
   */
  terraform: {
    version?: string;
    planCompute: 'lambda' | 'ec2';
    env?: { allow?: string[]; deny: string[] };
    sandbox?: { readOnly: string[] };
  };
  /** queueSeconds: how long CodeBuild may keep a build queued before it gives up on it. */
  timeouts: { planSeconds: number; applySeconds: number; lockWaitSeconds: number; queueSeconds: number };
}

export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export class ConfigError extends TfgateError {
  override name = 'ConfigError';
  constructor(
    readonly problems: ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    // Line 0: no position to give (an unreadable file, or a configuration given as a value, not as text).
    super(
      problems
        .map((p) => (p.line > 0 ? `${p.file}:${p.line}:${p.column}: ${p.message}` : `${p.file}: ${p.message}`))
        .join('\n'),
      options,
    );
  }
}

const MAX_CONFIG_BYTES = 1024 * 1024;

export function loadConfigFile(file: string): TfgateConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [{ file, line: 0, column: 0, message: `cannot read the file: ${(error as Error).message}` }],
      { cause: error },
    );
  }
  return parseConfig(text, file);
}

/** Parses and validates tfgate.yaml text; every problem is reported with its line. */
export function parseConfig(text: string, file = 'tfgate.yaml'): TfgateConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ConfigError([{ file, line: 1, column: 1, message: 'the file is larger than 1 MiB' }]);
  }
  const lineCounter = new LineCounter();
  // Aliases are refused outright: a configuration has no use for them and they allow "billion laughs".
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const syntaxProblems = [...doc.errors, ...doc.warnings].map((e) => ({
    file,
    ...at(e.pos[0]),
    message: e.message.split('\n')[0]!,
  }));
  if (doc.errors.length > 0) throw new ConfigError(syntaxProblems);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (error) {
    throw new ConfigError([{ file, line: 1, column: 1, message: (error as Error).message }], { cause: error });
  }
  if (value === null || value === undefined) {
    throw new ConfigError([
      { file, line: 1, column: 1, message: 'the file is empty; it needs at least a "repositories" list' },
    ]);
  }
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, doc, file, at)));
  }
  return toConfig(result.data);
}

/**
 * Validates a configuration given as a value in tfgate.yaml's shape (the CDK construct's `config`
 * prop), by the same schema as the file. A value has no lines: a problem names `source` and the key's path.
 */
export function parseConfigValue(value: unknown, source: string): TfgateConfig {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const where = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)).join('.') || 'top level';
        const message = issue.code === 'unrecognized_keys' ? unknownKeys(issue.keys) : issue.message;
        return { file: source, line: 0, column: 0, message: `${where}: ${message}` };
      }),
    );
  }
  return toConfig(result.data);
}

function describeIssue(
  issue: z.core.$ZodIssue,
  doc: Document,
  file: string,
  at: (offset: number | undefined) => { line: number; column: number },
): ConfigProblem {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const where = path.length > 0 ? path.join('.') : 'top level';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    return {
      file,
      ...at(keyOffset(doc, path, key) ?? nodeOffset(doc, path)),
      message: `${where}: ${unknownKeys(issue.keys)}`,
    };
  }
  // A missing key (approval.approvers) is reported where its parent is named (the `approval:` line).
  const missing =
    path.length >= 2 && doc.getIn(path, true) === undefined && doc.getIn(path.slice(0, -1), true) !== undefined;
  const offset = missing
    ? (keyOffset(doc, path.slice(0, -2), String(path[path.length - 2])) ?? nodeOffset(doc, path))
    : nodeOffset(doc, path);
  return { file, ...at(offset), message: `${where}: ${issue.message}` };
}

function unknownKeys(keys: string[]): string {
  return `unknown key "${keys[0]}"${
    keys.length > 1
      ? ` (and ${keys
          .slice(1)
          .map((k) => `"${k}"`)
          .join(', ')})`
      : ''
  }`;
}

/** The offset of the deepest node along `path` that exists in the document. */
function nodeOffset(doc: Document, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : (doc.getIn(path.slice(0, depth), true) as Node | undefined);
    if (node && typeof node === 'object' && 'range' in node && node.range) return node.range[0];
  }
  return undefined;
}

function keyOffset(doc: Document, path: (string | number)[], key: string): number | undefined {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (!isMap(parent)) return undefined;
  for (const pair of parent.items) {
    if (isPair(pair) && isScalar(pair.key) && pair.key.value === key) return pair.key.range?.[0];
  }
  return undefined;
}

function seconds(text: string): number {
  // The schema already proved the text parses.
  return parseDurationSeconds(text)!;
}

function toConfig(raw: RawConfig): TfgateConfig {
  return {
    repositories: raw.repositories.map((repo) => ({
      name: repo.name,
      branch: repo.branch,
      directory: repo.directory,
      ...(repo.cloneUrl !== undefined ? { cloneUrl: repo.cloneUrl } : {}),
      ...(repo.pullRequests !== undefined ? { pullRequests: { plan: repo.pullRequests.plan } } : {}),
      environments: repo.environments.map((env) => ({
        name: env.name,
        ...(env.approval
          ? {
              approval: {
                approvers: env.approval.approvers.map(normalizePerson),
                required: env.approval.required,
                timeoutSeconds: seconds(env.approval.timeout),
                allowSelfApproval: env.approval.allowSelfApproval,
              },
            }
          : {}),
        ...(env.roleArn !== undefined ? { roleArn: env.roleArn } : {}),
        ...(env.planRoleArn !== undefined ? { planRoleArn: env.planRoleArn } : {}),
      })),
      ...(repo.drift
        ? { drift: { schedule: repo.drift.schedule, intervalSeconds: rateSeconds(repo.drift.schedule) } }
        : {}),
    })),
    notifications: raw.notifications,
    access: { viewers: raw.access.viewers.map(normalizePerson) },
    people: raw.people.map((person) => ({
      github: person.github.toLowerCase(),
      emails: person.emails.map((email) => email.toLowerCase()),
    })),
    github: raw.github,
    terraform: {
      ...(raw.terraform.version !== undefined ? { version: raw.terraform.version } : {}),
      planCompute: raw.terraform.planCompute,
      ...(raw.terraform.env
        ? {
            env: {
              deny: raw.terraform.env.deny,
              ...(raw.terraform.env.allow ? { allow: raw.terraform.env.allow } : {}),
            },
          }
        : {}),
      ...(raw.terraform.sandbox ? { sandbox: { readOnly: raw.terraform.sandbox.readOnly } } : {}),
    },
    timeouts: {
      planSeconds: seconds(raw.timeouts.plan),
      applySeconds: seconds(raw.timeouts.apply),
      lockWaitSeconds: seconds(raw.timeouts.lockWait),
      queueSeconds: seconds(raw.timeouts.queue),
    },
  };
}

/** GitHub logins, team slugs and email addresses compare case-insensitively. */
function normalizePerson(entry: string): string {
  return entry.toLowerCase();
}

function rateSeconds(schedule: string): number {
  const match = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule)!;
  const unit = { minute: 60, hour: 3600, day: 86400 }[match[2] as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}

// Lives beside the resolved-config decoder, so the functions can look repositories up without this module's YAML
// parser.
export { findRepository } from './resolved.js';
