import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TfgateConfig } from '../../config/load.js';
import { decodeResolvedConfig } from '../../config/resolved.js';
import type { Clock } from '../../domain/ports.js';

/** What every Lambda entry needs from its environment beyond plain strings: the config and secrets. */

/**
 * CONFIG is the configuration the CDK stack resolved and validated at synth (see config/resolved.ts),
 * checked again here without the YAML parser or the full schema: they would triple a bundle's size.
 */
export function configFromEnv(value: string): TfgateConfig {
  return decodeResolvedConfig(value, 'CONFIG');
}

// Rotation reaches warm instances within this time without a redeploy.
export const SECRET_CACHE_MS = 5 * 60 * 1000;

/**
 * One Secrets Manager secret, fetched once per Lambda instance and kept for SECRET_CACHE_MS.
 * Concurrent callers share one fetch; a failed fetch is not remembered. The value never reaches a log:
 * errors name the secret's purpose, not its content.
 */
export class CachedSecret<T = string> {
  private cached: { value: T; fetchedAt: number } | undefined;
  private pending: Promise<T> | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly clock: Clock,
    private readonly purpose: string,
    private readonly parse: (secretString: string) => T = (text) => text as unknown as T,
  ) {}

  async get(): Promise<T> {
    const now = this.clock.now().getTime();
    if (this.cached && now - this.cached.fetchedAt < SECRET_CACHE_MS) return this.cached.value;
    this.pending ??= this.fetch(now).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(now: number): Promise<T> {
    const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (result.SecretString === undefined) throw new Error(`the ${this.purpose} secret has no SecretString`);
    const value = this.parse(result.SecretString);
    this.cached = { value, fetchedAt: now };
    return value;
  }
}
