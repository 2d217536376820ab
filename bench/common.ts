import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

/** What every part of the bench shares: GitHub's own example payloads, signing, percentiles. */

const require = createRequire(import.meta.url);
/** The fields of a push example the bench rewrites; the rest of GitHub's payload passes through untouched. */
interface PushExample {
  ref: string;
  deleted: boolean;
  after: string;
  repository: { full_name: string; name: string; [field: string]: unknown };
  [field: string]: unknown;
}

const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as Array<{
  name: string;
  examples: PushExample[];
}>;

/** GitHub's documented push example (a real-sized payload, about 7 KB), aimed at `repository` and `branch`. */
export function pushPayload(repository: string, branch = 'main', sha?: string): PushExample {
  const example = groups
    .find((group) => group.name === 'push')
    ?.examples.find((p) => p.ref === 'refs/heads/master' && p.deleted === false);
  if (!example) throw new Error('the push example is missing from @octokit/webhooks-examples');
  const payload = structuredClone(example);
  payload.ref = `refs/heads/${branch}`;
  payload.repository.full_name = repository;
  payload.repository.name = repository.split('/')[1] ?? repository;
  if (sha) payload.after = sha;
  return payload;
}

export function signed(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function pushHeaders(
  body: string,
  secret: string,
  event = 'push',
  deliveryId: string = randomUUID(),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    'x-hub-signature-256': signed(body, secret),
  };
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));
