import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { GitHubCredentials, MintedToken } from './credentials.js';

/** An installation token narrowed to what the caller asked for (GitHub refuses permissions the App lacks). */
export interface InstallationTokens {
  forRepository(repository: string, permissions: Record<string, string>): Promise<MintedToken>;
  forOrganization(org: string, permissions: Record<string, string>): Promise<MintedToken>;
}

const quietLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The App (its JWT, signed with the private key) finds the installation and asks for a token for it. */
export function appInstallationTokens(
  apiUrl: string,
  credentials: Extract<GitHubCredentials, { kind: 'app' }>,
  fetchImpl: typeof fetch = fetch,
): InstallationTokens {
  const app = new Octokit({
    baseUrl: apiUrl.replace(/\/+$/, ''),
    userAgent: 'tfgate',
    log: quietLog,
    request: { fetch: (input: string | URL | Request, init?: RequestInit) => fetchImpl(input, withTimeout(init)) },
    authStrategy: createAppAuth,
    auth: { appId: credentials.appId, privateKey: credentials.privateKey },
  });
  const token = async (installationId: number, extra: Record<string, unknown>): Promise<MintedToken> => {
    const result = (await app.auth({ type: 'installation', installationId, ...extra })) as {
      token: string;
      expiresAt?: string;
    };
    return { token: result.token, ...(result.expiresAt ? { expiresAt: result.expiresAt } : {}) };
  };
  return {
    async forRepository(repository, permissions) {
      const [owner, repo] = repository.split('/') as [string, string];
      const { data } = await app.rest.apps.getRepoInstallation({ owner, repo });
      return token(data.id, { repositoryNames: [repo], permissions });
    },
    async forOrganization(org, permissions) {
      const { data } = await app.rest.apps.getOrgInstallation({ org });
      return token(data.id, { permissions });
    },
  };
}

function withTimeout(init: RequestInit | undefined): RequestInit {
  const limit = AbortSignal.timeout(10_000);
  return { ...init, signal: init?.signal ? AbortSignal.any([init.signal, limit]) : limit };
}
