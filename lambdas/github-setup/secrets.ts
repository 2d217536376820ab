import { PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CreatedGitHubApp } from './conversion.js';

/** Where the created App's credentials go: the secrets tfgate's functions already read. */
export interface GitHubAppCredentialStore {
  store(app: CreatedGitHubApp): Promise<void>;
}

export interface StackSecretIds {
  /** `{"appId", "privateKey"}`: read by src/adapters/github/credentials.ts (parseGitHubSecret). */
  github: string;
  /** The webhook secret itself: read by lambdas/webhook/lambda.ts (parseWebhookSecrets). */
  webhook: string;
  /** `{"clientId", "clientSecret"}`: read by lambdas/web/lambda.ts (parseSignInSecret). */
  signIn: string;
}

/** The values, in the shapes the readers parse; kept apart from the client so tests can compare them. */
export function secretValuesFor(app: CreatedGitHubApp): Record<keyof StackSecretIds, string> {
  return {
    github: JSON.stringify({ appId: String(app.id), privateKey: app.pem }),
    webhook: app.webhookSecret,
    signIn: JSON.stringify({ clientId: app.clientId, clientSecret: app.clientSecret }),
  };
}

export class SecretsManagerCredentialStore implements GitHubAppCredentialStore {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly ids: StackSecretIds,
  ) {}

  async store(app: CreatedGitHubApp): Promise<void> {
    const values = secretValuesFor(app);
    // The webhook secret last: until it changes, deliveries GitHub signs with the new one are refused and
    // redelivered later, while the App and sign-in secrets are harmless before the App is installed.
    for (const role of ['github', 'signIn', 'webhook'] as const) {
      await this.client.send(new PutSecretValueCommand({ SecretId: this.ids[role], SecretString: values[role] }));
    }
  }
}
