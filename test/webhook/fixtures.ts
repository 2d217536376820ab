import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import type { TfgateConfig } from '../../src/config/load.js';
import { parseConfig } from '../../src/config/load.js';
import type { HttpRequest } from '../../src/http.js';

/** Real GitHub payloads from @octokit/webhooks-examples, and requests signed the way GitHub signs them. */

interface ExampleGroup {
  name: string;
  examples: Array<Record<string, unknown>>;
}

/**
 * A payload tests reach into and corrupt on purpose (delete required fields, put a number where a string goes)
 * to prove the edge refuses it; a typed payload would forbid exactly the inputs under test.
 */
// biome-ignore lint/suspicious/noExplicitAny: arbitrary JSON that tests edit by path, including into invalid shapes.
export type ExamplePayload = Record<string, any>;

const require = createRequire(import.meta.url);
const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];

/** A deep copy of the first example of `event` matching `where`, so a test may change it freely. */
export function example(event: string, where: (payload: ExamplePayload) => boolean = () => true): ExamplePayload {
  const found = groups.find((group) => group.name === event)?.examples.find(where);
  if (!found) throw new Error(`no ${event} example matches`);
  return structuredClone(found);
}

export const pushToMaster = () => example('push', (p) => p.ref === 'refs/heads/master' && p.deleted === false);
export const tagPush = () => example('push', (p) => p.ref === 'refs/tags/simple-tag' && p.created === true);
export const pullRequest = (action: string) => example('pull_request', (p) => p.action === action);
export const ping = () => example('ping', (p) => p.repository?.full_name === 'Octocoders/Hello-World');

export const SECRET = 'test-webhook-secret-4b1d';
export const PREVIOUS_SECRET = 'previous-webhook-secret-77aa';

/** Independent of the code under test: plain HMAC-SHA256 over the exact bytes, as GitHub computes it. */
export function signatureOf(body: Buffer | string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

let deliveryCounter = 0;
export function newDeliveryId(): string {
  deliveryCounter += 1;
  return `72d3162e-cc78-11e3-81ab-${String(deliveryCounter).padStart(12, '0')}`;
}

export function webhookRequest(
  event: string,
  payload: unknown,
  options: { secret?: string; deliveryId?: string; headers?: Record<string, string | undefined>; body?: Buffer } = {},
): HttpRequest {
  const body = options.body ?? Buffer.from(JSON.stringify(payload));
  return {
    method: 'POST',
    path: '/webhook',
    query: {},
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/044aadd',
      'x-github-event': event,
      'x-github-delivery': options.deliveryId ?? newDeliveryId(),
      'x-github-hook-id': '292430182',
      'x-hub-signature-256': signatureOf(body, options.secret ?? SECRET),
      ...options.headers,
    },
    body,
  };
}

export function testConfig(yaml?: string): TfgateConfig {
  return parseConfig(
    yaml ??
      `repositories:
  - name: Codertocat/Hello-World
    branch: master
    directory: infra
    environments:
      - name: ops
      - name: apps
        approval:
          approvers: [alice@example.com]
          timeout: 2h
  - name: Octocoders/Hello-World
    branch: main
    environments:
      - name: ops
timeouts:
  plan: 30m
  apply: 90m
  lockWait: 12h
`,
  );
}
