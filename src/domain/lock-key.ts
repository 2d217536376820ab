/**
 * The one encoding of an environment lock's key: `<repository>#<environment>`. GitHub treats owner/name
 * case-insensitively, so the repository is lower-cased; environment names never contain `#`
 * (the configuration schema refuses it), so the last `#` splits the key back.
 */

export function lockKeyFor(repository: string, environment: string): string {
  return `${repository.toLowerCase()}#${environment}`;
}

export function splitLockKey(lockKey: string): { repository: string; environment: string } | undefined {
  const at = lockKey.lastIndexOf('#');
  if (at <= 0 || at === lockKey.length - 1) return undefined;
  return { repository: lockKey.slice(0, at), environment: lockKey.slice(at + 1) };
}
