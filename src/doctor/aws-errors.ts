/** How an AWS SDK error reads in a checklist line. */

export function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? 'Error';
}

export function isAccessDenied(error: unknown): boolean {
  const name = errorName(error);
  return name === 'AccessDeniedException' || name === 'AccessDenied' || name === 'AuthorizationError';
}

/** `Name: message`, one line, cut: AWS messages name resources and actions, never secret values. */
export function describeAwsError(error: unknown): string {
  const name = errorName(error);
  const message = ((error as { message?: string } | undefined)?.message ?? String(error)).replace(/\s+/g, ' ').trim();
  const text = message && message !== name ? `${name}: ${message}` : name;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The fix for an access refusal: the doctor runs as the operator, who needs read access to the stack. */
export function accessFix(action: string): string {
  return `your AWS credentials need ${action} (the doctor reads the deployment with the credentials you deploy with)`;
}
