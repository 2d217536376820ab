/**
 * What the webhook needs from a logger. Powertools' Logger fits it in AWS; anything with the three
 * methods fits locally. Fields are structured so nothing needs to be formatted into the message.
 */
export interface WebhookLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: WebhookLogger = { info() {}, warn() {}, error() {} };
