import type { TfgateConfig } from '../../src/config/load.js';
import type { EnvironmentLocks } from '../../src/domain/locks.js';
import {
  systemClock,
  type Clock,
  type DeliveryStore,
  type ExecutionStarter,
  type RunStore,
  type SequenceStore,
} from '../../src/domain/ports.js';
import { json, MAX_WEBHOOK_BODY_BYTES, type HttpHandler, type HttpRequest, type HttpResponse } from '../../src/http.js';
import { startRun, type IntakeDeps } from '../../src/application/intake.js';
import { silentLogger, type WebhookLogger } from '../../src/application/logger.js';
import type { ChangeDeps } from '../../src/application/change.js';
import { bodyFormatOf, parseBody } from './parse.js';
import { routeEvent } from './route.js';
import { createSignatureVerifier } from './verify.js';

export interface WebhookHandlerDeps {
  config: TfgateConfig;
  /** Accepted webhook secrets, the current one first; more than one while a secret is being rotated. */
  secrets: string[];
  stores: { runs: RunStore; deliveries: DeliveryStore; sequences: SequenceStore };
  locks: Pick<EnvironmentLocks, 'enqueue' | 'releaseAll'>;
  starter: ExecutionStarter;
  clock?: Clock;
  logger?: WebhookLogger;
  /** Records each push's pusher and refuses replays of applied commits (src/application/change.ts). */
  change?: ChangeDeps;
}

// Header values end up in log lines and DynamoDB keys: only what GitHub actually sends gets through.
const EVENT_NAME = /^[a-z_]{1,64}$/;
const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * POST /webhook. Cheap checks first, the signature before anything reads the body, and no clone or
 * GitHub API call anywhere on this path: GitHub gives up on a receiver after 10 seconds.
 * Logs carry the delivery id, event, repository and decision; never a secret, a signature or the payload.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps): HttpHandler {
  const verifySignature = createSignatureVerifier(deps.secrets);
  const logger = deps.logger ?? silentLogger;
  const intake: IntakeDeps = {
    config: deps.config,
    ...deps.stores,
    locks: deps.locks,
    starter: deps.starter,
    clock: deps.clock ?? systemClock,
    logger,
    ...(deps.change ? { change: deps.change } : {}),
  };

  return async (request: HttpRequest): Promise<HttpResponse> => {
    if (request.method.toUpperCase() !== 'POST') return json(405, { error: 'use POST' }, { allow: 'POST' });
    if (request.body.length > MAX_WEBHOOK_BODY_BYTES) {
      logger.warn('webhook refused', { status: 413, bytes: request.body.length });
      return json(413, { error: `body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes` });
    }
    const format = bodyFormatOf(request.headers['content-type']);
    if (!format) {
      logger.warn('webhook refused', { status: 415 });
      return json(415, { error: 'content type must be application/json or application/x-www-form-urlencoded' });
    }
    const event = request.headers['x-github-event'];
    const deliveryId = request.headers['x-github-delivery'];
    if (!event || !EVENT_NAME.test(event)) return refuse(400, 'missing or malformed X-GitHub-Event header');
    if (!deliveryId || !DELIVERY_ID.test(deliveryId))
      return refuse(400, 'missing or malformed X-GitHub-Delivery header', { event });
    const context = { deliveryId, event };
    // GitHub never signs an empty body (its libraries refuse to), so there is nothing to verify.
    if (request.body.length === 0) return refuse(400, 'body is empty', context);

    const signature = await verifySignature(request.body, request.headers);
    if (!signature.valid) {
      logger.warn('webhook signature refused', { ...context, status: 401, problem: signature.reason });
      return json(401, { error: 'missing or invalid X-Hub-Signature-256' });
    }
    if (signature.secretIndex > 0)
      logger.info('webhook signed with a previous secret', { ...context, secretIndex: signature.secretIndex });

    const parsed = parseBody(signature.text, format);
    if (!parsed.ok) return refuse(400, parsed.problem, context);

    const decision = routeEvent(event, parsed.payload, deps.config);
    switch (decision.kind) {
      case 'malformed':
        return refuse(400, decision.problem, context);
      case 'pong':
        logger.info('webhook ping', { ...context, decision: 'pong' });
        return json(200, { ok: true, zen: decision.zen ?? null });
      case 'ignored':
        logger.info('webhook ignored', {
          ...context,
          repository: decision.repository,
          decision: 'ignored',
          reason: decision.reason,
        });
        return json(202, { ignored: decision.reason });
      case 'run':
        break;
    }

    const fields = {
      ...context,
      repository: decision.repository.name,
      mode: decision.mode,
      sha: decision.sha,
      ref: decision.ref,
    };
    try {
      const outcome = await startRun(decision, deliveryId, intake);
      switch (outcome.kind) {
        case 'started':
          logger.info('webhook started a run', {
            ...fields,
            decision: 'run',
            runId: outcome.runId,
            executionName: outcome.executionName,
          });
          return json(202, { runId: outcome.runId });
        case 'duplicate': {
          const reason = outcome.reason ?? 'duplicate delivery';
          logger.info('webhook ignored', { ...fields, decision: 'ignored', reason, runId: outcome.runId });
          return json(202, outcome.runId ? { ignored: reason, runId: outcome.runId } : { ignored: reason });
        }
        case 'failed':
          logger.error('webhook could not start a run', {
            ...fields,
            decision: 'failed',
            runId: outcome.runId,
            error: outcome.error,
          });
          return json(500, {
            error: 'the run could not be started; redeliver the event to try again',
            ...(outcome.runId ? { runId: outcome.runId } : {}),
          });
      }
    } catch (error) {
      // Only the delivery claim and its lookup can land here; nothing was recorded, so a redelivery can retry.
      logger.error('webhook intake failed before a run was recorded', {
        ...fields,
        error: error instanceof Error ? error.message : String(error),
      });
      return json(500, { error: 'the event could not be recorded; redeliver it to try again' });
    }
  };

  function refuse(status: number, problem: string, fields: Record<string, unknown> = {}): HttpResponse {
    logger.warn('webhook refused', { ...fields, status, problem });
    return json(status, { error: problem });
  }
}
