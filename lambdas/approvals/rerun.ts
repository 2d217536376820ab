/**
 * POST /runs/{id}/rerun: a deliberate re-run of a deploy run's commit, the one way past "one deploy run
 * per commit". Who asks comes from the authenticated person (`identify`, injected: the sign-in in the
 * router, the local credential for the CLI), never from a header or body field; the new run records it.
 */
import { randomUUID } from 'node:crypto';
import { findRepository } from '../core/config/resolved.js';
import { isTerminalRun } from '../core/domain/run.js';
import { json, type HttpHandler, type HttpRequest } from '../core/http.js';
import { launchRun, type IntakeDeps } from '../webhook/intake.js';

export const RERUN_PATH = /^\/runs\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/rerun$/;

export interface RerunDeps {
  intake: IntakeDeps;
  /** The signed-in person making the request; undefined means nobody is (401). */
  identify: (request: HttpRequest) => Promise<string | undefined>;
  /** Whether this person may re-run runs of this repository (approvers); default: any signed-in person. */
  mayRerun?: (actor: string, repository: string) => Promise<boolean>;
}

export function isRerunRequest(request: HttpRequest): boolean {
  return RERUN_PATH.test(request.path);
}

export function createRerunHandler(deps: RerunDeps): HttpHandler {
  return async (request) => {
    const match = RERUN_PATH.exec(request.path);
    if (!match) return json(404, { error: 'not found' });
    if (request.method !== 'POST') return json(405, { error: 'use POST' }, { allow: 'POST' });
    // A cross-site page can send a form, not JSON without asking first; and a browser names its origin.
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) return json(415, { error: 'the request must be JSON (content-type: application/json)' });
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null' && safeHost(origin) !== request.headers.host) return json(403, { error: 'cross-site requests are refused' });
    if (origin === 'null') return json(403, { error: 'cross-site requests are refused' });

    const actor = await deps.identify(request);
    if (!actor) return json(401, { error: 'sign in first' });
    const { intake } = deps;
    const run = await intake.runs.get(match[1]!);
    if (!run) return json(404, { error: 'no such run' });
    if (run.mode !== 'deploy') return json(409, { error: 'only deploy runs are re-run; a pull request is planned again on its next push' });
    if (!isTerminalRun(run.status)) return json(409, { error: `run ${run.id} is still ${run.status}` });
    const repository = findRepository(intake.config, run.repository);
    if (!repository) return json(409, { error: `repository ${run.repository} is no longer configured` });
    if (deps.mayRerun && !(await deps.mayRerun(actor, repository.name))) return json(403, { error: `${actor} may not re-run runs of ${repository.name}` });

    const outcome = await launchRun(
      {
        repository,
        mode: 'deploy',
        trigger: 'manual',
        sha: run.sha,
        ref: run.ref,
        message: `re-run of ${run.id}, requested by ${actor}`,
        // The commit's people stay who they were: self-approval rules still see them.
        ...(run.pusher !== undefined ? { pusher: run.pusher } : {}),
        ...(run.author !== undefined ? { author: run.author } : {}),
      },
      { executionName: `rerun-${randomUUID()}`, rerunOf: run.id, requestedBy: actor },
      intake,
    );
    switch (outcome.kind) {
      case 'started':
        intake.logger.info('re-run started', { runId: outcome.runId, rerunOf: run.id, requestedBy: actor });
        return json(202, { runId: outcome.runId, rerunOf: run.id, requestedBy: actor });
      case 'duplicate':
        return json(409, { error: 'this re-run was already started' });
      case 'failed':
        return json(500, { error: outcome.error, ...(outcome.runId ? { runId: outcome.runId } : {}) });
    }
  };
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
