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
import { rollbackReason, type ChangeDeps } from './change.js';
import type { VcsClient } from '../domain/ports.js';
import type { ChangePeople } from '../domain/run.js';

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
  /**
   * The history, the ledger and the branch heads: a re-run of a commit that is not the head, or older than what an
   * environment applied, is a rollback, refused unless asked for as one. Without them every re-run is refused.
   */
  rollbacks?: { change: ChangeDeps; heads: Pick<VcsClient, 'getBranchHead'> };
}

/** `person`: who asked, as signed in (their identities join the re-run's people: they may not approve it). */
export type RerunnerDecision = { actor: string; person?: SignedInPerson } | { refusal: string };

const MAX_REASON_CHARS = 500;

/** The JSON body: `{ "rollback": bool, "reason": "…" }`, both optional; anything else is refused. */
function rerunBody(body: Buffer): { rollback: boolean; reason?: string } | { problem: string } {
  if (body.length === 0) return { rollback: false };
  if (body.length > 16 * 1024) return { problem: 'the body is too large' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { problem: 'the body is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { problem: 'the body must be a JSON object' };
  const { rollback, reason } = parsed as Record<string, unknown>;
  if (rollback !== undefined && typeof rollback !== 'boolean') return { problem: 'rollback must be true or false' };
  if (reason !== undefined && typeof reason !== 'string') return { problem: 'reason must be text' };
  const text = typeof reason === 'string' ? reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim() : '';
  if (text.length > MAX_REASON_CHARS) return { problem: `reason must be at most ${MAX_REASON_CHARS} characters` };
  return { rollback: rollback === true, ...(text ? { reason: text } : {}) };
}

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
    return { actor: describePerson(person), person };
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
    const body = rerunBody(request.body);
    if ('problem' in body) return json(400, { error: body.problem });
    if (body.rollback && !body.reason)
      return json(400, { error: 'a rollback needs a reason (tfgate rerun RUN --rollback --reason TEXT)' });
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

    if (!deps.rollbacks)
      return json(503, { error: 'tfgate cannot tell here whether this re-run would roll back; nothing started' });
    let rollback: string | undefined;
    try {
      const head = await deps.rollbacks.heads.getBranchHead(repository.name, repository.branch);
      rollback = await rollbackReason(deps.rollbacks.change, repository.name, run.sha, head);
    } catch (error) {
      if (!body.rollback)
        return json(503, {
          error:
            `tfgate cannot tell whether re-running ${run.sha.slice(0, 7)} would roll an environment back ` +
            `(${(error as Error).message}); nothing started. Try again, or ask for it as a rollback ` +
            '(--rollback --reason TEXT), which every environment approves.',
        });
      rollback = 'asked for as a rollback';
    }
    if (rollback && !body.rollback) {
      intake.logger.info('re-run refused: a rollback', { runId: run.id, requestedBy: actor, reason: rollback });
      return json(409, {
        error:
          `${rollback}. Nothing started: a rollback is asked for with --rollback --reason TEXT, and then every ` +
          'environment it changes waits for an approval.',
        rollback: true,
      });
    }
    const asRollback = body.rollback ? { reason: body.reason! } : undefined;
    // The change's people stay who they were, and whoever asked joins them: they may not approve their own re-run.
    const requester: ChangePeople = decision.person
      ? {
          logins: decision.person.login ? [decision.person.login.toLowerCase()] : [],
          emails: decision.person.emails.map((email) => email.toLowerCase()),
        }
      : { logins: [], emails: /@/.test(actor) ? [actor.toLowerCase()] : [] };
    const people: ChangePeople = {
      logins: [...new Set([...(run.people?.logins ?? []), ...requester.logins])],
      emails: [...new Set([...(run.people?.emails ?? []), ...requester.emails])],
      ...(run.people?.unknown ? { unknown: run.people.unknown } : {}),
    };
    if (!run.people)
      people.unknown = `the run ${run.id} re-runs does not say who pushed or wrote ${run.sha.slice(0, 7)}`;

    const outcome = await launchRun(
      {
        repository,
        mode: 'deploy',
        trigger: 'manual',
        sha: run.sha,
        ref: run.ref,
        message: `${asRollback ? 'rollback' : 're-run'} of ${run.id}, requested by ${actor}`,
        // The commit's people stay who they were: self-approval rules still see them.
        ...(run.pusher !== undefined ? { pusher: run.pusher } : {}),
        ...(run.author !== undefined ? { author: run.author } : {}),
        people,
        ...(asRollback ? { rollback: asRollback } : {}),
      },
      { executionName: `rerun-${randomUUID()}`, rerunOf: run.id, requestedBy: actor },
      intake,
    );
    switch (outcome.kind) {
      case 'started':
        intake.logger.info('re-run started', { runId: outcome.runId, rerunOf: run.id, requestedBy: actor });
        return json(202, {
          runId: outcome.runId,
          rerunOf: run.id,
          requestedBy: actor,
          ...(asRollback ? { rollback: asRollback } : {}),
        });
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
