import { readFile } from 'node:fs/promises';
import { TfgateError } from '../../domain/errors.js';

/**
 * How tfgate authenticates to GitHub: a token (personal or fine-grained, or an installation token
 * someone else refreshes), or a GitHub App (an installation is looked up per repository).
 * These values are secrets: nothing here puts them in an error message or a log line.
 */
export type StoredGitHubCredentials =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: string; privateKey: string };
/** What a GitHub client acts with: stored credentials, or tokens another function mints (`minted`). */
export type GitHubCredentials = StoredGitHubCredentials | { kind: 'minted'; mint: TokenMinter };

/** Whose installation a token is for: one repository, or an organization (team membership). */
export type InstallationTarget = { repository: string } | { org: string };

/** A token someone else made (an installation token lasts an hour); no expiry: it is reused until refused. */
export interface MintedToken {
  token: string;
  expiresAt?: string;
}

/**
 * AWS: the public functions never read the GitHub App's private key; they ask a function that does (not
 * publicly reachable) for an installation token. Undefined: no GitHub credentials are configured.
 */
export type TokenMinter = (target: InstallationTarget) => Promise<MintedToken | undefined>;

export class GitHubCredentialsError extends TfgateError {
  override name = 'GitHubCredentialsError';
}

export const GITHUB_ENV = {
  token: 'TFGATE_GITHUB_TOKEN',
  appId: 'TFGATE_GITHUB_APP_ID',
  privateKeyFile: 'TFGATE_GITHUB_PRIVATE_KEY_FILE',
  clientId: 'TFGATE_GITHUB_CLIENT_ID',
  clientSecret: 'TFGATE_GITHUB_CLIENT_SECRET',
} as const;

/** GitHub sign-in for `tfgate local`: the OAuth (or GitHub App) client id and secret, both or neither. */
export function signInClientFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { clientId: string; clientSecret: string } | undefined {
  const clientId = env[GITHUB_ENV.clientId]?.trim();
  const clientSecret = env[GITHUB_ENV.clientSecret]?.trim();
  if (!clientId && !clientSecret) return undefined;
  if (!clientId || !clientSecret)
    throw new GitHubCredentialsError(`GitHub sign-in needs both ${GITHUB_ENV.clientId} and ${GITHUB_ENV.clientSecret}`);
  return { clientId, clientSecret };
}

/** `tfgate local`: undefined when no credentials are set (GitHub feedback is then off). */
export async function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<GitHubCredentials | undefined> {
  const token = env[GITHUB_ENV.token]?.trim();
  if (token) return { kind: 'token', token };
  const appId = env[GITHUB_ENV.appId]?.trim();
  const keyFile = env[GITHUB_ENV.privateKeyFile]?.trim();
  if (!appId && !keyFile) return undefined;
  if (!appId || !keyFile) {
    throw new GitHubCredentialsError(
      `a GitHub App needs both ${GITHUB_ENV.appId} and ${GITHUB_ENV.privateKeyFile}; only ` +
        `${appId ? GITHUB_ENV.appId : GITHUB_ENV.privateKeyFile} is set`,
    );
  }
  let privateKey: string;
  try {
    privateKey = await readFile(keyFile, 'utf8');
  } catch (error) {
    throw new GitHubCredentialsError(
      `cannot read ${GITHUB_ENV.privateKeyFile} (${keyFile}): ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  return appCredentials(appId, privateKey, GITHUB_ENV.privateKeyFile);
}

/**
 * The Secrets Manager secret's SecretString: `{"token": "…"}` or `{"appId": …, "privateKey": "…"}`.
 * Undefined for an empty or placeholder secret (GitHub feedback is then off).
 */
export function parseGitHubSecret(secretString: string | undefined): StoredGitHubCredentials | undefined {
  if (secretString === undefined || secretString.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    throw new GitHubCredentialsError(
      'the GitHub secret is not JSON; store {"token": "…"} or {"appId": "…", "privateKey": "…"}',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GitHubCredentialsError(
      'the GitHub secret must be a JSON object: {"token": "…"} or {"appId": "…", "privateKey": "…"}',
    );
  }
  const record = value as Record<string, unknown>;
  if (typeof record.token === 'string' && record.token.trim() !== '')
    return { kind: 'token', token: record.token.trim() };
  const appId = typeof record.appId === 'number' ? String(record.appId) : record.appId;
  if (typeof appId === 'string' && appId.trim() !== '' && typeof record.privateKey === 'string')
    return appCredentials(appId.trim(), record.privateKey, 'privateKey');
  if (Object.keys(record).length === 0) return undefined;
  throw new GitHubCredentialsError('the GitHub secret has neither a "token" nor an "appId" with a "privateKey"');
}

function appCredentials(appId: string, privateKey: string, keySource: string): StoredGitHubCredentials {
  if (!/^\d+$/.test(appId)) throw new GitHubCredentialsError('the GitHub App id must be a number');
  // Secrets pasted into JSON often carry literal "\n" instead of line breaks.
  const key = privateKey.includes('\\n') && !privateKey.includes('\n') ? privateKey.replace(/\\n/g, '\n') : privateKey;
  if (!/-----BEGIN (?:RSA )?PRIVATE KEY-----/.test(key))
    throw new GitHubCredentialsError(`${keySource} is not a PEM private key`);
  return { kind: 'app', appId, privateKey: key };
}
