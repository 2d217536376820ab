import { existsSync } from 'node:fs';

/**
 * Waiting in tests: poll for the condition instead of sleeping a fixed time, which is too short on a
 * loaded machine and too long on a quiet one.
 */

/** Polls `probe` until it gives a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until `file` exists (a lock file a subprocess writes once it got going). */
export async function untilFileExists(file: string, timeoutMs = 60_000): Promise<void> {
  await until(`${file} to exist`, () => (existsSync(file) ? true : undefined), timeoutMs);
}
