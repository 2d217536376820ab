/**
 * The shapes of the secrets the stack's functions read, parsed in one place: the functions use these
 * (webhook, approvals, notifier) and so does `tfgate doctor`, which checks that each secret is filled
 * in a shape its reader accepts. A secret is a credential: no message here quotes any part of it
 * (JSON.parse's own messages do, so they are never passed on).
 */
import { TfgateError } from '../../domain/errors.js';

export class SecretShapeError extends TfgateError {
  override name = 'SecretShapeError';
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SecretShapeError(`the ${what} secret is not valid JSON`);
  }
}

/**
 * The webhook secret's SecretString: `{"current": "…", "previous": "…"}` while rotating, or the secret itself.
 * Returns the accepted secrets, current first.
 */
export function parseWebhookSecrets(secretString: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    return [secretString];
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { current, previous } = value as { current?: unknown; previous?: unknown };
    if (typeof current !== 'string' || current === '')
      throw new SecretShapeError('the webhook secret JSON has no "current" string');
    return typeof previous === 'string' && previous !== '' && previous !== current ? [current, previous] : [current];
  }
  // Valid JSON that is not an object (a quoted string, a number) is taken as the plain secret it was typed as.
  return [secretString];
}

/** The sign-in secret: `{"clientId": "…", "clientSecret": "…"}`; empty (the placeholder): GitHub sign-in is off. */
export function parseSignInSecret(secretString: string): { clientId: string; clientSecret: string } | undefined {
  const text = secretString.trim();
  if (text === '' || text === '{}') return undefined;
  const value = parseJson(text, 'sign-in') as { clientId?: unknown; clientSecret?: unknown } | null;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.clientId !== 'string' ||
    typeof value.clientSecret !== 'string' ||
    !value.clientId ||
    !value.clientSecret
  ) {
    throw new SecretShapeError('the sign-in secret needs "clientId" and "clientSecret" strings');
  }
  return { clientId: value.clientId, clientSecret: value.clientSecret };
}

/** The Slack secret holds the webhook URL itself, or `{"webhookUrl": "…"}`. */
export function parseSlackSecret(secretString: string): string {
  const text = secretString.trim();
  let url = text;
  if (text.startsWith('{')) {
    const value = parseJson(text, 'Slack') as { webhookUrl?: unknown } | null;
    if (typeof value?.webhookUrl !== 'string')
      throw new SecretShapeError('the Slack secret JSON has no "webhookUrl" string');
    url = value.webhookUrl.trim();
  }
  // Checked without echoing it: the URL is the credential.
  if (!/^https?:\/\/\S+$/.test(url)) throw new SecretShapeError('the Slack secret is not a webhook URL');
  return url;
}
