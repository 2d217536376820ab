/**
 * POST /runs/{id}/rerun: a deliberate re-run of a deploy run's commit, the one way past "one deploy run
 * per commit". Who asks comes from the authenticated person (`identify`, injected: the sign-in in the
 * router, the local credential for the CLI), never from a header or body field; the new run records it.
 * Only an approver of the repository may re-run (issue 11.5): `rerunner`.
 */
import { randomUUID } from 'node:crypto';
import { describePerson, matchListed, personNamed, type SignedInPerson, type TeamDirectory } from '../auth/person.js';
import type { RepositoryConfig } from '../config/load.js';
import { findRepository } from '../config/resolved.js';
import { isTerminalRun } from '../domain/run.js';
import { json, type HttpHandler, type HttpRequest } from '../http.js';
import { launchRun, type IntakeDeps } from './intake.js';

export const RERUN_PATH = /^\/runs\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/rerun$/;

export interface RerunDeps {
  intake: IntakeDeps;
  /** The signed-in person making the request; undefined means nobody is (401). */
  identify: (request: HttpRequest) => Promise<string | undefined>;
  /**
   * Who re-runs runs of this repository, or why this request may not (403): an approver of one of its
   * gates (`approversMayRerun`). Without it any signed-in person may, and is named by `identify`.
   */
  rerunner?: (request: HttpRequest, repository: RepositoryConfig) => Promise<RerunnerDecision>;
}

export type RerunnerDecision = { actor: string } | { refusal: string };

/**
 * A re-run applies a commit again, so only someone who could approve that is trusted with it: an
 * approver of some gate of the repository. The local operator (the CLI's credential) names which
 * approver they are with `?as=` (`tfgate rerun --as`), as `tfgate approve --as` does; with a single
 * listed person there is nobody else they could mean.
 */
export function approversMayRerun(teams: TeamDirectory | undefined): NonNullable<RerunDeps['rerunner']> {
  return async (request, repository) => {
    const signedIn = request.identity;
    if (!signedIn) return { refusal: 'sign in first' };
    const approvers = [
      ...new Set(repository.environments.flatMap((environment) => environment.approval?.approvers ?? [])),
    ];
    if (approvers.length === 0)
      return { refusal: `${repository.name} has no approval gate, so nobody is named who may re-run its runs` };
    let person: SignedInPerson = signedIn;
    if (signedIn.via === 'local') {
      const single = approvers.length === 1 && !approvers[0]!.includes('/') ? approvers[0] : undefined;
      const actingAs = request.query.as || single;
      if (!actingAs)
        return {
          refusal:
            `say which approver of ${repository.name} you are: tfgate rerun RUN --as WHO (an email address ` +
            `or @login from an approvers list)`,
        };
      const named = personNamed(actingAs, signedIn.sessionId);
      if (!named)
        return { refusal: `--as ${actingAs.slice(0, 100)} is neither an email address nor a GitHub login (@name)` };
      person = named;
    }
    const match = await matchListed(person, approvers, teams);
    if (!match.matched)
      return {
        refusal:
          `${describePerson(person)} is not an approver of ${repository.name} and may not re-run its ` +
          `runs${match.note ? ` (${match.note})` : ''}`,
      };
    return { actor: describePerson(person) };
  };
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
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
      return json(415, { error: 'the request must be JSON (content-type: application/json)' });
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null' && safeHost(origin) !== request.headers.host)
      return json(403, { error: 'cross-site requests are refused' });
    if (origin === 'null') return json(403, { error: 'cross-site requests are refused' });

    const signedInActor = await deps.identify(request);
    if (!signedInActor) return json(401, { error: 'sign in first' });
    const { intake } = deps;
    const run = await intake.runs.get(match[1]!);
    if (!run) return json(404, { error: 'no such run' });
    if (run.mode !== 'deploy')
      return json(409, { error: 'only deploy runs are re-run; a pull request is planned again on its next push' });
    if (!isTerminalRun(run.status)) return json(409, { error: `run ${run.id} is still ${run.status}` });
    const repository = findRepository(intake.config, run.repository);
    if (!repository) return json(409, { error: `repository ${run.repository} is no longer configured` });
    const decision = deps.rerunner ? await deps.rerunner(request, repository) : { actor: signedInActor };
    if ('refusal' in decision) return json(403, { error: decision.refusal });
    const { actor } = decision;

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
