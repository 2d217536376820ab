import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TfgateConfig } from '../../config/load.js';
import type { SourceArchiver, VcsClient } from '../../domain/ports.js';
import { GitHubSourceArchiver } from './archiver.js';
import { GitHubClient } from './client.js';
import {
  GitHubCredentialsError,
  parseGitHubSecret,
  type GitHubCredentials,
  type StoredGitHubCredentials,
} from './credentials.js';
import { createVcsClient, GITHUB_FEEDBACK_OFF } from './index.js';

/** AWS: GITHUB_SECRET_ARN holds `{"token": "…"}` or `{"appId": …, "privateKey": "…"}`. */
export async function credentialsFromSecret(
  client: SecretsManagerClient,
  secretId: string,
): Promise<StoredGitHubCredentials | undefined> {
  const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  return parseGitHubSecret(result.SecretString);
}

/**
 * The Lambda entries' GitHub client, read once per instance. Without a secret, or with one that is
 * empty or unreadable, feedback is off and the log says so once; a run never fails over it.
 */
export function lazyVcsFromSecret(options: {
  apiUrl: string;
  secretId: string | undefined;
  secretsManager: () => SecretsManagerClient;
  log: (message: string, fields?: Record<string, unknown>) => void;
}): () => Promise<VcsClient> {
  let pending: Promise<VcsClient> | undefined;
  return () => {
    pending ??= (async () => {
      let credentials: GitHubCredentials | undefined;
      if (options.secretId) {
        try {
          credentials = await credentialsFromSecret(options.secretsManager(), options.secretId);
        } catch (error) {
          if (!(error instanceof GitHubCredentialsError)) {
            // Secrets Manager itself failed: this call fails (and is retried); the next one reads again.
            pending = undefined;
            throw error;
          }
          // The message names what is wrong with the secret's shape, never its content.
          options.log('the GitHub secret could not be used', { error: error.message });
        }
      }
      const { vcs, enabled } = createVcsClient(options.apiUrl, credentials);
      if (!enabled) options.log(GITHUB_FEEDBACK_OFF);
      return vcs;
    })();
    return pending;
  };
}

/**
 * The pipeline function's source archiver: the GitHub client (token, App, or anonymous for public
 * repositories) is built on first use from the GitHub secret, which only functions may read.
 */
export function lambdaSourceArchiver(options: {
  config: TfgateConfig;
  secretId: string | undefined;
  secretsManager?: SecretsManagerClient;
}): SourceArchiver {
  let pending: Promise<GitHubClient> | undefined;
  const client = () => {
    pending ??= (async () => {
      const credentials = options.secretId
        ? await credentialsFromSecret(options.secretsManager ?? new SecretsManagerClient({}), options.secretId)
        : undefined;
      return new GitHubClient({ apiUrl: options.config.github.apiUrl, credentials });
    })();
    pending.catch(() => (pending = undefined));
    return pending;
  };
  return new GitHubSourceArchiver(options.config, client);
}
