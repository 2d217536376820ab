import { findRepository, type TfgateConfig } from '../config/load.js';
import { localOperatorProblem } from '../auth/sign-in.js';
import { unlockAsOperator, type OperatorStopDeps } from '../application/operator-stop.js';
import { json, type HttpHandler } from '../http.js';

/**
 * POST /local/unlock (`tfgate unlock`): the local operator frees an environment lock. Only the machine's
 * owner may (the local credential); a live holder is refused unless forced, and the reply says why. A
 * forced unlock of a live run stops that run for good (application/operator-stop.ts).
 */
export function createUnlockRoute(config: TfgateConfig, deps: OperatorStopDeps): HttpHandler {
  return async (request) => {
    if (request.method !== 'POST') return json(405, { error: 'method not allowed' });
    const refused = localOperatorProblem(request);
    if (refused) return refused;
    let body: { repository?: unknown; environment?: unknown; reason?: unknown; by?: unknown; force?: unknown };
    try {
      body = JSON.parse(request.body.toString('utf8'));
    } catch {
      return json(400, { error: 'the body must be JSON' });
    }
    const repository = typeof body.repository === 'string' ? findRepository(config, body.repository) : undefined;
    if (!repository) return json(404, { error: 'repository not configured' });
    const environment = repository.environments.find((env) => env.name === body.environment);
    if (!environment) return json(404, { error: `environment not configured for ${repository.name}` });
    const by = `${typeof body.by === 'string' && body.by ? body.by.slice(0, 200) : 'tfgate unlock'} (local operator)`;
    const reason = typeof body.reason === 'string' && body.reason ? body.reason.slice(0, 500) : 'no reason given';
    const outcome = await unlockAsOperator(deps, repository.name, environment.name, {
      by,
      reason,
      force: body.force === true,
    });
    const where = { repository: repository.name, environment: environment.name };
    switch (outcome.kind) {
      case 'not_held':
        return json(200, { ...where, released: false });
      case 'refused':
        return json(409, {
          ...where,
          released: false,
          holder: outcome.holder.runId,
          holderStatus: outcome.run.status,
          error:
            `the ${environment.name} lock is held by run ${outcome.run.id} ` +
            `(${outcome.run.repository}@${outcome.run.sha.slice(0, 8)}, ${outcome.run.trigger}, ` +
            `${outcome.run.status}), which is still alive; --force frees it and stops that run for good ` +
            `(it ends interrupted and plans or applies nothing more)`,
        });
      case 'freed':
        return json(200, {
          ...where,
          released: true,
          holder: outcome.holder.runId,
          fence: outcome.holder.fence,
          holderWasAlive: outcome.wasAlive,
          ...(outcome.run ? { holderStatus: outcome.run.status } : {}),
          ...(outcome.stopped
            ? { stopped: { runId: outcome.stopped.id, status: outcome.stopped.status, error: outcome.stopped.error } }
            : {}),
        });
    }
  };
}
