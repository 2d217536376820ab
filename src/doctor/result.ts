/** One line of the doctor's checklist, and how the list is printed and judged. */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable, for --json readers: `stack`, `secret.github`, `quota.ARM_LAMBDA_CONTAINER.BUILD_LAMBDA_2GB`, … */
  id: string;
  /** What is checked, in words. */
  title: string;
  status: CheckStatus;
  /** What was found. Never a secret value. */
  detail: string;
  /** For a failure or warning: what to do, one concrete command or console link per line. */
  fix?: string[];
}

export const pass = (id: string, title: string, detail: string): CheckResult => ({
  id,
  title,
  status: 'pass',
  detail,
});
export const fail = (id: string, title: string, detail: string, fix: string[] = []): CheckResult => ({
  id,
  title,
  status: 'fail',
  detail,
  ...(fix.length > 0 ? { fix } : {}),
});
export const warn = (id: string, title: string, detail: string, fix: string[] = []): CheckResult => ({
  id,
  title,
  status: 'warn',
  detail,
  ...(fix.length > 0 ? { fix } : {}),
});
export const skip = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'skip', detail });

const MARK: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

/** The checklist: one line per check, its fixes indented under it. */
export function renderChecklist(results: CheckResult[], header: string): string {
  const lines = [header];
  for (const result of results) {
    lines.push(`${MARK[result.status]} ${result.title}: ${result.detail}`);
    for (const fix of result.fix ?? []) lines.push(`    fix: ${fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push(
    failed === 0
      ? `all checks hold${warned > 0 ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`
      : `${failed} check${failed === 1 ? '' : 's'} failed`,
  );
  return `${lines.join('\n')}\n`;
}

/** 0 only when every check holds (a warning holds, with a caveat); 1 when one fails. */
export function exitCodeOf(results: CheckResult[]): 0 | 1 {
  return results.some((result) => result.status === 'fail') ? 1 : 0;
}
