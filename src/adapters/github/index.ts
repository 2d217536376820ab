import type { VcsClient } from '../../domain/ports.js';
import { GitHubClient } from './client.js';
import type { GitHubCredentials } from './credentials.js';
import { NoopVcsClient } from './noop.js';

export { GitHubClient } from './client.js';
export { credentialsFromEnv, signInClientFromEnv, type GitHubCredentials } from './credentials.js';
export { GITHUB_FEEDBACK_OFF } from './noop.js';

/** The client for these credentials, or the no-op one (`enabled: false`) when there are none. */
export function createVcsClient(
  apiUrl: string,
  credentials: GitHubCredentials | undefined,
  options: { requestTimeoutMs?: number } = {},
): { vcs: VcsClient; enabled: boolean } {
  if (!credentials) return { vcs: new NoopVcsClient(), enabled: false };
  return { vcs: new GitHubClient({ apiUrl, credentials, ...options }), enabled: true };
}

/** Where builds fetch a commit when the configuration names no cloneUrl and no event supplied one. */
export function defaultCloneUrl(apiUrl: string, repository: string): string {
  const api = new URL(apiUrl);
  // api.github.com serves github.com; GitHub Enterprise Server serves its API under /api/v3 of the same host.
  const web = api.hostname === 'api.github.com' ? 'https://github.com' : `${api.protocol}//${api.host}`;
  return `${web}/${repository}.git`;
}
