/**
 * Where a root's Terraform state lives when tfgate runs it, and the record that it ever applied.
 *
 * In AWS a build container is thrown away after every build, so a root that declares no backend (the
 * `tfgate init` starter, most Kubestack roots) would lose its state after each apply and create
 * everything again on the next run. The runner therefore gives such a root an S3 backend in the
 * stack's state bucket (S3 native locking, `use_lockfile`), keyed by environment, repository and stack:
 *
 *   env/<environment>/<owner>/<name>/<stack>/terraform.tfstate        (state; `.tflock` beside it)
 *   env/<environment>/<owner>/<name>/<stack>/tfgate-applied.json      (the last apply's record)
 *
 * The environment comes first so an IAM resource `env/<environment>/*` names exactly one environment's
 * objects, whatever the repository, directory or other environment names are. `<stack>` is `root` for
 * a repository's top directory and `dir/<directory>` otherwise. A root that declares its own remote
 * backend keeps it; one that declares the local backend is refused in AWS (its state would be lost).
 */
import { constants as fsConstants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { hclString } from './text.js';

export const STATE_ENVIRONMENTS_PREFIX = 'env';
export const STATE_FILE_NAME = 'terraform.tfstate';
export const APPLIED_RECORD_NAME = 'tfgate-applied.json';

export type DeclaredBackend =
  | { kind: 'none' }
  | { kind: 'local'; file: string }
  | { kind: 'remote'; type: string; file: string };

/** `root` for the repository's top directory, `dir/<directory>` for a root below it. */
export function stackKeyOf(directory: string): string {
  return directory === '.' || directory === '' ? 'root' : `dir/${directory}`;
}

/** `<owner>/<name>/<stack>`: one root of one repository, the same in every environment. */
export function rootKeyOf(repository: string, directory: string): string {
  return `${repository}/${stackKeyOf(directory)}`;
}

/** The S3 object an environment's state of one root is kept in (what terraform's S3 backend computes). */
export function stateObjectKey(environment: string, repository: string, directory: string): string {
  return `${STATE_ENVIRONMENTS_PREFIX}/${environment}/${rootKeyOf(repository, directory)}/${STATE_FILE_NAME}`;
}

export function appliedRecordKey(environment: string, repository: string, directory: string): string {
  return `${STATE_ENVIRONMENTS_PREFIX}/${environment}/${rootKeyOf(repository, directory)}/${APPLIED_RECORD_NAME}`;
}

/**
 * The backend block a root declares, read from its `*.tf` and `*.tf.json` files (the ones terraform reads
 * in that directory). Comments are ignored; `terraform_remote_state`'s `backend = "…"` attribute is not a
 * backend block. `cloud { … }` (HCP Terraform) counts as a remote backend.
 */
export async function declaredBackend(root: string, ignore: string[] = []): Promise<DeclaredBackend> {
  const entries = await readdir(root, { withFileTypes: true });
  const files = entries
    .filter((entry) => (entry.name.endsWith('.tf') || entry.name.endsWith('.tf.json')) && !ignore.includes(entry.name))
    .map((entry) => entry.name)
    .sort();
  let found: DeclaredBackend = { kind: 'none' };
  for (const name of files) {
    const text = await readTerraformFile(path.join(root, name));
    if (text === undefined) continue;
    const backend = name.endsWith('.json') ? jsonBackend(text) : hclBackend(text);
    if (!backend) continue;
    found = backend === 'local' ? { kind: 'local', file: name } : { kind: 'remote', type: backend, file: name };
    // A local backend anywhere is what must be refused; keep looking only while none is found.
    if (found.kind === 'local') return found;
  }
  return found;
}

/** Files a commit could have made links: only regular files are read, and nothing is followed. */
async function readTerraformFile(file: string): Promise<string | undefined> {
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function hclBackend(text: string): string | undefined {
  const code = stripHclComments(text);
  const block = /(?:^|[\s{;])backend\s+"([^"]+)"\s*\{/m.exec(code);
  if (block) return block[1];
  if (/(?:^|[\s{;])cloud\s*\{/m.test(code)) return 'cloud';
  return undefined;
}

/** Removes `#`, `//` and block comments, leaving strings alone (a `#` inside quotes is not a comment). */
function stripHclComments(text: string): string {
  let out = '';
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === '"' || c === '\n') inString = false;
      i += 1;
    } else if (c === '"') {
      inString = true;
      out += c;
      i += 1;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

function jsonBackend(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const blocks = (parsed as { terraform?: unknown } | null)?.terraform;
  for (const block of Array.isArray(blocks) ? blocks : [blocks]) {
    if (!block || typeof block !== 'object') continue;
    const record = block as Record<string, unknown>;
    const backend = record.backend;
    for (const entry of Array.isArray(backend) ? backend : [backend]) {
      if (entry && typeof entry === 'object') {
        const [type] = Object.keys(entry);
        if (type) return type;
      }
    }
    if (record.cloud) return 'cloud';
  }
  return undefined;
}

export interface S3BackendSettings {
  bucket: string;
  region: string;
  repository: string;
  directory: string;
  environment: string;
  /** The AWS profile the backend reads the build role's credentials from (terraform itself may run as another role). */
  profile?: { name: string; configFile: string; credentialsFile: string };
}

/**
 * The override that puts a root's state in the state bucket. Non-default workspaces are stored at
 * `<workspace_key_prefix>/<workspace>/<key>`; the default workspace at `<key>`, so its key carries the
 * same prefix itself: every environment's state lands at `stateObjectKey`.
 */
export function s3BackendOverride(settings: S3BackendSettings): string {
  const rootKey = `${rootKeyOf(settings.repository, settings.directory)}/${STATE_FILE_NAME}`;
  const key = settings.environment === 'default' ? `${STATE_ENVIRONMENTS_PREFIX}/default/${rootKey}` : rootKey;
  const profile = settings.profile
    ? [
        `    profile                  = ${hclString(settings.profile.name)}`,
        `    shared_config_files      = [${hclString(settings.profile.configFile)}]`,
        `    shared_credentials_files = [${hclString(settings.profile.credentialsFile)}]`,
      ]
    : [];
  return [
    "# Written by tfgate: this root declares no backend, so its state is kept in the stack's state bucket.",
    'terraform {',
    '  backend "s3" {',
    `    bucket                   = ${hclString(settings.bucket)}`,
    `    region                   = ${hclString(settings.region)}`,
    `    key                      = ${hclString(key)}`,
    `    workspace_key_prefix     = ${hclString(STATE_ENVIRONMENTS_PREFIX)}`,
    '    use_lockfile             = true',
    '    encrypt                  = true',
    ...profile,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * An empty state (version 4), written by a plan build for an environment whose workspace does not exist
 * yet: terraform's S3 backend would otherwise create it itself, which needs the state's write and lock
 * permissions plans do not have. Written only if nothing is there (If-None-Match), so it never
 * replaces a state.
 */
export function emptyState(terraformVersion: string, lineage: string): string {
  return `${JSON.stringify(
    {
      version: 4,
      terraform_version: terraformVersion,
      serial: 0,
      lineage,
      outputs: {},
      resources: [],
      check_results: null,
    },
    null,
    2,
  )}\n`;
}

/** What an apply leaves behind: the environment has applied, and how many resources its state held after. */
export interface AppliedRecord {
  environment: string;
  runId: string;
  sha: string;
  at: string;
  resources: number;
}

/**
 * Where apply records of one root are kept: the state bucket in AWS, the state directory locally. A
 * missing or unreadable record reads as none.
 */
export interface AppliedRecords {
  get(environment: string): Promise<AppliedRecord | undefined>;
  put(record: AppliedRecord): Promise<void>;
  /** The environments of this root with a record (any environment, configured or not). */
  environments(): Promise<string[]>;
  /** Where one environment's record is, for the message that tells a person how to clear it. */
  describe(environment: string): string;
}

export function parseAppliedRecord(body: Buffer | undefined): AppliedRecord | undefined {
  if (!body) return undefined;
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<AppliedRecord>;
    if (typeof value.environment !== 'string' || typeof value.resources !== 'number') return undefined;
    return {
      environment: value.environment,
      runId: String(value.runId ?? ''),
      sha: String(value.sha ?? ''),
      at: String(value.at ?? ''),
      resources: value.resources,
    };
  } catch {
    return undefined;
  }
}
