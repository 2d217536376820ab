import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsComposition } from '../../src/composition/aws.js';
import { credentialsFromSecret } from '../../src/adapters/github/secret.js';
import { appInstallationTokens } from '../../src/adapters/github/installation-tokens.js';
import { createTokenMinter, type TokenAnswer } from './handler.js';

/**
 * The AWS entry of the GitHub token function: invoked (RequestResponse) by the webhook and web functions,
 * which may not read the GitHub secret themselves. No function URL, no event source: only IAM principals
 * granted lambda:InvokeFunction on it reach it.
 */
const ENVIRONMENT_KEYS = ['CONFIG', 'GITHUB_SECRET_ARN'] as const;

export interface TokenLambdaOptions {
  env?: NodeJS.ProcessEnv;
  secretsManager?: SecretsManagerClient;
  fetch?: typeof fetch;
}

export function createTokenLambda(options: TokenLambdaOptions = {}): (event: unknown) => Promise<TokenAnswer> {
  const aws = new AwsComposition(ENVIRONMENT_KEYS, [], 'tfgate-github-token', options);
  const { config, env } = aws;
  return createTokenMinter({
    config,
    // Read on every request: a rotated key or a changed secret counts at once, and callers ask about once
    // an hour per target and instance.
    credentials: () => credentialsFromSecret(aws.secretsManager, env.GITHUB_SECRET_ARN),
    tokens: (credentials) => appInstallationTokens(config.github.apiUrl, credentials, options.fetch),
  });
}

let handle: ((event: unknown) => Promise<TokenAnswer>) | undefined;

export const handler = (event: unknown): Promise<TokenAnswer> => {
  handle ??= createTokenLambda();
  return handle(event);
};
