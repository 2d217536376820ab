import { TfgateError } from '../../src/domain/errors.js';
import { z } from 'zod';
import type { TfgateConfig } from '../../src/config/load.js';
import type {
  InstallationTarget,
  MintedToken,
  StoredGitHubCredentials,
} from '../../src/adapters/github/credentials.js';
import { GITHUB_TEAM_ENTRY } from '../../src/config/patterns.js';
import type { InstallationTokens } from '../../src/adapters/github/installation-tokens.js';

/**
 * The one function that reads the GitHub App's private key on behalf of the public ones (webhook, web
 * pages): they invoke it (IAM, never a URL) and get an installation token for one configured repository,
 * or for an organization whose teams the configuration names. The token is narrowed to that repository
 * and to what those functions do with it; the key never leaves this function.
 */

/** What a token for a repository may do: commit statuses, the compare API, a commit's pull requests. */
export const REPOSITORY_TOKEN_PERMISSIONS = {
  contents: 'read',
  metadata: 'read',
  statuses: 'write',
  pull_requests: 'read',
} as const;
/** What a token for an organization may do: read team membership. */
export const ORGANIZATION_TOKEN_PERMISSIONS = { members: 'read' } as const;

const OWNER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

const TokenRequest = z.union([
  z.strictObject({
    repository: z
      .string()
      .regex(/^[^/]+\/[^/]+$/)
      .max(201),
  }),
  z.strictObject({ org: z.string().regex(OWNER_NAME) }),
]);

export type TokenAnswer = (MintedToken & { none?: never }) | { none: 'no GitHub credentials are configured' };

export class TokenRequestError extends TfgateError {
  override name = 'TokenRequestError';
}

/** Owners of configured repositories and organizations of teams the configuration names (lower case). */
function allowedOrganizations(config: TfgateConfig): Set<string> {
  const orgs = new Set(config.repositories.map((repo) => repo.name.split('/')[0]!.toLowerCase()));
  const people = [
    ...config.repositories.flatMap((repo) => repo.environments.flatMap((env) => env.approval?.approvers ?? [])),
    ...config.access.viewers,
  ];
  for (const entry of people) {
    if (GITHUB_TEAM_ENTRY.test(entry)) orgs.add(entry.slice(1).split('/')[0]!.toLowerCase());
  }
  return orgs;
}

export function createTokenMinter(deps: {
  config: TfgateConfig;
  credentials: () => Promise<StoredGitHubCredentials | undefined>;
  tokens: (credentials: Extract<StoredGitHubCredentials, { kind: 'app' }>) => InstallationTokens;
}): (event: unknown) => Promise<TokenAnswer> {
  const repositories = new Set(deps.config.repositories.map((repo) => repo.name.toLowerCase()));
  const organizations = allowedOrganizations(deps.config);
  return async (event) => {
    const parsed = TokenRequest.safeParse(event);
    if (!parsed.success) throw new TokenRequestError('a token request names one repository or one organization');
    const target: InstallationTarget = parsed.data;
    // Only what the configuration names: a caller that was taken over still reaches nothing else.
    if ('repository' in target && !repositories.has(target.repository.toLowerCase()))
      throw new TokenRequestError(`${target.repository} is not a configured repository`);
    if ('org' in target && !organizations.has(target.org.toLowerCase()))
      throw new TokenRequestError(`${target.org} owns no configured repository and no configured team`);
    const credentials = await deps.credentials();
    if (!credentials) return { none: 'no GitHub credentials are configured' };
    // A token (personal or fine-grained) cannot be narrowed: it is handed over as stored. Docs: use an App.
    if (credentials.kind === 'token') return { token: credentials.token };
    const tokens = deps.tokens(credentials);
    return 'repository' in target
      ? tokens.forRepository(target.repository, REPOSITORY_TOKEN_PERMISSIONS)
      : tokens.forOrganization(target.org, ORGANIZATION_TOKEN_PERMISSIONS);
  };
}
