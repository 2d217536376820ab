import { TfgateError } from './domain/errors.js';
/**
 * The one place environment variables are read for the Lambda entries. Missing keys fail at cold
 * start, naming the key, instead of deep inside a request.
 */
export class MissingEnvironmentError extends TfgateError {
  override name = 'MissingEnvironmentError';
}

export function requireEnv<const K extends string>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Record<K, string> {
  const missing = keys.filter((key) => !env[key]);
  if (missing.length > 0) {
    throw new MissingEnvironmentError(
      `missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`,
    );
  }
  return Object.fromEntries(keys.map((key) => [key, env[key]!])) as Record<K, string>;
}

export function optionalEnv(key: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[key];
  return value === undefined || value === '' ? undefined : value;
}
