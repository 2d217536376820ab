import { Logger } from '@aws-lambda-powertools/logger';

/** The `(message, fields)` log function the handlers take, written as structured JSON by Powertools. */
export type LogFunction = (message: string, fields?: Record<string, unknown>) => void;

export function powertoolsLog(serviceName: string, level: 'info' | 'warn' = 'info'): LogFunction {
  const logger = new Logger({ serviceName });
  return (message, fields) => logger[level](message, fields ?? {});
}
