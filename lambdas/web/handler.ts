import { buildProjectName, planBuildKind } from '../../src/domain/builds.js';
import { STAGE_ARTIFACTS, stageArtifactKey } from '../../src/domain/plan-summary.js';
import { planViewKey } from '../../src/domain/artifact-keys.js';
import type { PlanView } from '../../src/domain/plan-view.js';
import {
  describePerson,
  matchListed,
  NO_BINDINGS,
  personNamed,
  resolvePerson,
  type PeopleBindings,
  type SignedInPerson,
  type TeamDirectory,
} from '../../src/auth/person.js';
import { approverIdentities, changeRefusal } from '../../src/auth/two-person.js';
import {
  alreadyApproved,
  approvalProgress,
  approverNames,
  recordApproval,
  stageApprovalView,
} from '../../src/domain/approval-count.js';
import { checkFormToken, formToken } from '../../src/auth/session.js';
import { isCrossSite } from '../../src/auth/sign-in.js';
import type {
  ApprovalRecord,
  ApprovalStore,
  ArtifactStore,
  BuildLogs,
  Clock,
  RunStore,
  TaskCallbacks,
} from '../../src/domain/ports.js';
import { systemClock } from '../../src/domain/ports.js';
import {
  describeStop,
  isTerminalRun,
  RUN_LIST_CURSOR,
  runListCursor,
  type Run,
  type Stage,
} from '../../src/domain/run.js';
import { html, json, text, wantsJson, type HttpHandler, type HttpRequest, type HttpResponse } from '../../src/http.js';
import {
  approvalPage,
  decisionPage,
  RUN_PAGE_CSP,
  runPage,
  runsPage,
  stripTerminalEscapes,
  type CurrentDecision,
  type StageLogView,
} from '../../src/web/pages.js';
import { publicRun, type RunFiles } from '../../src/web/public-run.js';

const RUNS_PAGE_SIZE = 100;
/** How many of the newest runs a closed approval page looks through for the current decision. */
const CURRENT_LOOKUP_RUNS = 100;

/**
 * GET/POST /approvals/{id}, GET /runs, GET /runs/{id}, GET /runs/{id}/{env}/log (a build's output),
 * GET /healthz: one handler for the approvals function URL and the local server, always behind the
 * sign-in gate (src/auth/sign-in.ts), which tells it who is asking (`request.identity`).
 * GET never changes anything (Slack's unfurler and
 * mail scanners fetch links before people do); a decision is a POST with the page's anti-forgery
 * field (tied to the session and the approval), recorded by one conditional update and only then
 * handed to the waiting execution.
 */

export interface ApprovalsDeps {
  runs: RunStore;
  approvals: ApprovalStore;
  artifacts: ArtifactStore;
  callbacks: TaskCallbacks;
  /** Signs the anti-forgery fields (the sign-in's session key). */
  sessionKey: string;
  /** GitHub team membership, checked at decision time; absent without GitHub credentials. */
  teams?: TeamDirectory;
  /** `people:` from tfgate.yaml: the decider is compared as the person they are, however they signed in. */
  people?: PeopleBindings;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Locally: where a run's logs, artifacts and state are on this machine (shown by show and the run page). */
  localFiles?: (run: Run) => RunFiles;
  /**
   * Builds' output for the run page, live while a build runs (a log file locally, CloudWatch Logs in
   * AWS); `projectPrefix` names the CodeBuild projects (`<prefix>-<env>-<kind>`). Without it no output is shown.
   */
  buildLogs?: { logs: BuildLogs; projectPrefix: string };
}

const APPROVAL_PATH = /^\/approvals\/([0-9a-f]{32})\/?$/;
const RUN_PATH = /^\/runs\/([A-Za-z0-9_-]{1,100})\/?$/;
const PLAN_TEXT_PATH = /^\/runs\/([A-Za-z0-9_-]{1,100})\/([a-z0-9][a-z0-9_-]{0,62})\/plan\.txt$/;
const LOG_PATH = /^\/runs\/([A-Za-z0-9_-]{1,100})\/([a-z0-9][a-z0-9_-]{0,62})\/log\/?$/;
const MAX_FORM_BYTES = 16 * 1024;
/** The run page and the log route show this many of a build's last lines. */
const LOG_TAIL_LINES = 200;
/** Stages that never started a build have no output to show. */
const BEFORE_ANY_BUILD: ReadonlySet<Stage['status']> = new Set(['pending', 'waiting_for_lock', 'skipped']);
const MAX_PLAN_TEXT = 200_000;
/** A stored view is bounded where it is made (PAGE_LIMITS); anything far larger is not one. */
const MAX_PLAN_VIEW_BYTES = 8 * 1024 * 1024;

export function createApprovalsHandler(deps: ApprovalsDeps): HttpHandler {
  const clock = deps.clock ?? systemClock;
  const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);
  const people = deps.people ?? NO_BINDINGS;

  async function loadPlanText(run: Run, environment: string): Promise<string | undefined> {
    const body = await deps.artifacts
      .get(stageArtifactKey(run.id, environment, STAGE_ARTIFACTS.planText, planBuildKind(run.mode)))
      .catch(() => undefined);
    if (!body) return undefined;
    const text = body.toString('utf8');
    return text.length > MAX_PLAN_TEXT
      ? `${text.slice(0, MAX_PLAN_TEXT)}\n… (cut: the full plan is ${text.length} characters)`
      : text;
  }

  /**
   * The structured plan view the pipeline stored for this stage: small, so a page view reads kilobytes; still
   * checked for shape and size before it is rendered (escaped) above the plan text.
   */
  async function loadPlanView(run: Run, environment: string): Promise<{ view?: PlanView; problem?: string }> {
    const body = await deps.artifacts
      .get(planViewKey(run.id, environment, planBuildKind(run.mode)))
      .catch(() => undefined);
    if (!body) return { problem: 'The structured view of this plan is not available; read the plan text below.' };
    if (body.length > MAX_PLAN_VIEW_BYTES)
      return { problem: 'The structured view of this plan is too large to show; read the plan text below.' };
    try {
      const view = JSON.parse(body.toString('utf8')) as PlanView;
      if (
        typeof view !== 'object' ||
        view === null ||
        !Array.isArray(view.resources) ||
        typeof view.summary !== 'object'
      )
        throw new Error('not a plan view');
      return { view };
    } catch {
      return { problem: 'The structured view of this plan cannot be read; read the plan text below.' };
    }
  }

  /**
   * A stage's latest build output (the apply's once the stage got that far, else the plan's), each line
   * with terminal escapes stripped: it is what pull-request code printed. A failure to read it is
   * shown on the page, never fails the page.
   */
  async function stageLog(run: Run, stage: Stage, asked?: 'plan' | 'apply'): Promise<StageLogView | undefined> {
    if (!deps.buildLogs) return undefined;
    const { environment } = stage;
    const reachedApply =
      stage.status === 'applying' ||
      stage.status === 'applied' ||
      stage.transitions.some((t) => t.status === 'applying');
    const mode = asked ?? (reachedApply ? 'apply' : 'plan');
    const running = stage.status === (mode === 'apply' ? 'applying' : 'planning');
    const view: StageLogView = { environment, mode, running, lines: [], truncated: false };
    const projectName = buildProjectName(
      deps.buildLogs.projectPrefix,
      environment,
      mode === 'apply' ? 'apply' : planBuildKind(run.mode),
    );
    try {
      const tail = await deps.buildLogs.logs.tail({ projectName, runId: run.id, environment, mode }, LOG_TAIL_LINES);
      if (!tail) return { ...view, started: false };
      const lines = tail.lines.map((line) => stripTerminalEscapes(line));
      return {
        ...view,
        started: true,
        lines,
        truncated: tail.truncated,
        ...(tail.location ? { location: tail.location } : {}),
      };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      deps.log?.('build log unavailable', { runId: run.id, environment, mode, error: why });
      return { ...view, problem: 'The build output cannot be read right now.' };
    }
  }

  async function stageLogs(run: Run): Promise<StageLogView[]> {
    const started = run.stages.filter((stage) => !BEFORE_ANY_BUILD.has(stage.status));
    const views = await Promise.all(started.map((stage) => stageLog(run, stage)));
    return views.filter((view): view is StageLogView => view !== undefined);
  }

  function filesOf(run: Run): RunFiles {
    const local = deps.localFiles?.(run) ?? { locations: {}, stages: {} };
    const stages: RunFiles['stages'] = {};
    for (const stage of run.stages) {
      stages[stage.environment] = {
        ...(stage.plan ? { plan: `/runs/${run.id}/${stage.environment}/plan.txt` } : {}),
        ...(local.stages[stage.environment] ?? {}),
      };
    }
    return { locations: local.locations, stages };
  }

  /**
   * The person deciding: who signed in, or, for the local operator (the CLI with the local
   * credential), the listed approver they name with `--as`.
   */
  function decider(
    request: HttpRequest,
    approval: ApprovalRecord,
    given: string | undefined,
  ): { person?: SignedInPerson; problem?: string } {
    const signedIn = request.identity;
    if (!signedIn) return { problem: 'Sign in first.' };
    if (signedIn.via !== 'local') return { person: resolvePerson(signedIn, people) };
    // With one person on the list there is nobody else the operator could mean.
    const single = (approval.approvers ?? []).filter((entry) => !entry.includes('/'));
    const actingAs = given ?? (single.length === 1 && approval.approvers.length === 1 ? single[0] : undefined);
    if (!actingAs)
      return {
        problem:
          'Say which approver you are: tfgate approve ID --as WHO (an email address or @login from the approvers ' +
          'list).',
      };
    const named = personNamed(actingAs, signedIn.sessionId);
    return named
      ? { person: resolvePerson(named, people) }
      : { problem: `--as ${actingAs.slice(0, 100)} is neither an email address nor a GitHub login (@name).` };
  }

  /** Why this person may not decide, or undefined when they may. */
  async function refusal(approval: ApprovalRecord, person: SignedInPerson): Promise<string | undefined> {
    const approvers = approval.approvers ?? [];
    // Records from before every gate named its approvers: nobody is named, so nobody may decide.
    if (approvers.length === 0) return `No approvers are named for ${approval.environment}; nobody can approve this.`;
    const match = await matchListed(person, approvers, deps.teams);
    if (!match.matched)
      return (
        `${describePerson(person)} is not an approver for ` +
        `${approval.environment}${match.note ? ` (${match.note})` : ''}.`
      );
    if (!approval.allowSelfApproval)
      return changeRefusal(person, approval.people, approvalProgress(approval).required, people);
    return undefined;
  }

  function closedReason(approval: ApprovalRecord, run?: Run): string | undefined {
    if (run?.stop && approval.status !== 'approved' && approval.status !== 'rejected')
      return (
        `This approval is closed: the run was ${describeStop(run.stop)}. Nothing from this run will be applied ` +
        `to ${approval.environment}.`
      );
    switch (approval.status) {
      case 'approved':
        return (
          `This approval was already approved by ${approverNames(approval)}` +
          (approval.decidedAt ? ` at ${approval.decidedAt}` : '') +
          '.'
        );
      case 'rejected':
        return (
          `This approval was already ${approval.status}` +
          (approval.decidedBy ? ` by ${approval.decidedBy}` : '') +
          (approval.decidedAt ? ` at ${approval.decidedAt}` : '') +
          '.'
        );
      case 'superseded':
        return (
          `This approval was superseded: ${approval.reason ?? 'a newer push replaced this run'}. Nothing ` +
          `from this run will be applied to ${approval.environment}; decide on the newer run instead.`
        );
      case 'expired':
        return (
          `This approval expired${approval.reason ? ` (${approval.reason})` : ''}; nothing was applied to ` +
          `${approval.environment}.`
        );
      case 'pending':
        break;
    }
    // A run that ended another way (interrupted, failed) applies nothing, whatever its approval says.
    if (run && isTerminalRun(run.status))
      return (
        `The run has ended (${run.status}${run.error ? `: ${run.error}` : ''}); nothing from it will be applied ` +
        `to ${approval.environment}.`
      );
    if (approval.expiresAt <= nowSeconds())
      return (
        `This approval expired at ${new Date(approval.expiresAt * 1000).toISOString()}; nothing will be ` +
        `applied to ${approval.environment}.`
      );
    return undefined;
  }

  async function showApproval(request: HttpRequest, approvalId: string): Promise<HttpResponse> {
    const approval = await deps.approvals.get(approvalId);
    if (!approval) return notFound(request, 'approval');
    if (!request.identity) return json(401, { error: 'sign in first' });
    const run = await deps.runs.get(approval.runId);
    if (!run) return notFound(request, 'run');
    const who = decider(request, approval, request.query.as);
    const blocked = closedReason(approval, run) ?? who.problem ?? (await refusal(approval, who.person!));
    const approver = who.person ? describePerson(who.person) : undefined;
    const token = formToken(deps.sessionKey, approval.id, request.identity!.sessionId, nowSeconds());
    deps.log?.('approval viewed', {
      approvalId: approval.id,
      runId: approval.runId,
      who: approver,
      ...(blocked ? { refused: blocked } : {}),
    });
    if (wantsJson(request)) {
      return json(200, {
        id: approval.id,
        runId: approval.runId,
        repository: approval.repository,
        environment: approval.environment,
        sha: approval.sha,
        planSha256: approval.planSha256,
        status: approval.status,
        expiresAt: new Date(approval.expiresAt * 1000).toISOString(),
        ...(approval.decidedBy ? { by: approval.decidedBy } : {}),
        required: approvalProgress(approval).required,
        approvals: approvalProgress(approval).approvals,
        ...(approval.change ? { change: approval.change } : {}),
        ...(approver ? { approver } : {}),
        ...(who.person && alreadyApproved(approval, approverIdentities(who.person, people))
          ? { approvedByYou: true }
          : {}),
        canDecide: blocked === undefined,
        ...(blocked ? { reason: blocked } : {}),
        formToken: token,
      });
    }
    const stage = run.stages.find((s) => s.environment === approval.environment);
    // A closed approval points at the one to decide now (or the newer run still on its way to one).
    const current = approval.status === 'pending' && !blocked ? undefined : await currentDecision(approval);
    const planView = await loadPlanView(run, approval.environment);
    return html(
      200,
      approvalPage({
        approval,
        run,
        stage,
        planText: await loadPlanText(run, approval.environment),
        ...(planView.view ? { planView: planView.view } : {}),
        ...(planView.problem ? { planViewProblem: planView.problem } : {}),
        approver,
        formToken: token,
        canDecide: blocked === undefined,
        ...(blocked ? { blockedReason: blocked } : {}),
        ...(current ? { current } : {}),
      }),
    );
  }

  /**
   * The approval a person who opened a closed one should look at instead: the newest pending approval
   * of the same repository and environment, else the newest run of that repository still on its way.
   */
  async function currentDecision(approval: ApprovalRecord): Promise<CurrentDecision | undefined> {
    const recent = await deps.runs.list({ limit: CURRENT_LOOKUP_RUNS });
    const sameRepository = recent.filter(
      (run) => run.id !== approval.runId && run.repository.toLowerCase() === approval.repository.toLowerCase(),
    );
    for (const run of sameRepository) {
      const stage = run.stages.find((s) => s.environment === approval.environment);
      if (stage?.approval?.status === 'pending' && stage.approval.id !== approval.id)
        return { approvalId: stage.approval.id, runId: run.id, sha: run.sha };
    }
    const active = sameRepository.find((run) => run.mode === 'deploy' && !isTerminalRun(run.status));
    return active ? { runId: active.id, sha: active.sha } : undefined;
  }

  async function decide(request: HttpRequest, approvalId: string): Promise<HttpResponse> {
    if (request.body.length > MAX_FORM_BYTES) return page(request, 413, 'bad', 'Too large', 'The form is too large.');
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/x-www-form-urlencoded') {
      return page(request, 415, 'bad', 'Unsupported form', 'Send the form as application/x-www-form-urlencoded.');
    }
    // Browsers say where a form came from; a decision may only come from tfgate's own page (or a
    // non-browser client such as `tfgate approve`, which sends no such header).
    if (isCrossSite(request)) {
      return page(
        request,
        403,
        'bad',
        'Refused',
        'The form was sent from another site. Open the approval link and decide on that page.',
      );
    }
    const form = new URLSearchParams(request.body.toString('utf8'));
    const decision = form.get('decision');
    if (decision !== 'approve' && decision !== 'reject')
      return page(request, 400, 'bad', 'No decision', 'The form must say decision=approve or decision=reject.');
    const reason = (form.get('reason') ?? '').slice(0, 500).trim();

    const approval = await deps.approvals.get(approvalId);
    if (!approval) return notFound(request, 'approval');
    if (!request.identity) return json(401, { error: 'sign in first' });
    const tokenCheck = checkFormToken(
      deps.sessionKey,
      approval.id,
      request.identity!.sessionId,
      form.get('form_token') ?? undefined,
      nowSeconds(),
    );
    if (tokenCheck !== 'valid') {
      deps.log?.('decision refused', {
        approvalId: approval.id,
        runId: approval.runId,
        why: `anti-forgery field ${tokenCheck}`,
      });
      return page(
        request,
        403,
        'bad',
        'Refused',
        tokenCheck === 'stale'
          ? 'This page is too old (its anti-forgery field has expired); open the link again and decide from the ' +
              'fresh page.'
          : 'The form did not come from this approval page (its anti-forgery field is missing or forged); open ' +
              'the link you were sent and decide there.',
      );
    }
    const run = await deps.runs.get(approval.runId);
    const closed = closedReason(approval, run);
    if (closed) return page(request, 409, 'bad', closedTitle(approval, run), closed, approval.runId, approval);
    const deciding = decider(request, approval, form.get('as') ?? undefined);
    const refused = deciding.problem ?? (await refusal(approval, deciding.person!));
    if (refused) {
      deps.log?.('decision refused', {
        approvalId: approval.id,
        runId: approval.runId,
        who: deciding.person ? describePerson(deciding.person) : undefined,
        why: refused,
      });
      return page(request, 403, 'bad', 'Not allowed', refused, approval.runId, approval);
    }

    const status = decision === 'approve' ? 'approved' : 'rejected';
    const who = describePerson(deciding.person!);
    let decided: ApprovalRecord;
    if (status === 'approved') {
      const counted = await recordApproval(
        deps.approvals,
        approval,
        { by: who, ids: approverIdentities(deciding.person!, people) },
        clock.now(),
      );
      if (counted.outcome === 'closed') {
        const current = counted.approval ?? approval;
        return page(
          request,
          409,
          'bad',
          closedTitle(current),
          closedReason(current) ?? 'This approval was decided by someone else just now.',
          approval.runId,
          current,
        );
      }
      const { approvals, required } = approvalProgress(counted.approval);
      if (counted.outcome === 'duplicate') {
        // Not an error: the approval stands as it was, and this person's approval is counted once.
        return page(
          request,
          200,
          'ok',
          'Already approved by you',
          `You already approved this (${approvals.length} of ${required} approvals so far); the same person counts ` +
            `once. ${required - approvals.length} more distinct ` +
            `approver${required - approvals.length === 1 ? '' : 's'} ` +
            `must approve before ${approval.environment} is applied.`,
          approval.runId,
          counted.approval,
        );
      }
      if (counted.outcome === 'recorded') {
        const at = counted.approval.approvals?.at(-1)?.at ?? clock.now().toISOString();
        await deps.runs.recordApprovalProgress(
          approval.runId,
          approval.environment,
          stageApprovalView(counted.approval),
          clock.now(),
        );
        deps.log?.('approval counted', {
          approvalId: approval.id,
          runId: approval.runId,
          environment: approval.environment,
          by: who,
          approvals: approvals.length,
          required,
        });
        const left = required - approvals.length;
        return page(
          request,
          200,
          'ok',
          `Approved: ${approvals.length} of ${required}`,
          `Your approval is recorded (${who}, ${at}): ${approvals.length} of ${required}. The run waits for ${left} ` +
            `more distinct approver${left === 1 ? '' : 's'} before ${approval.environment} is applied.`,
          approval.runId,
          counted.approval,
        );
      }
      decided = counted.approval;
    } else {
      const result = await deps.approvals.decide(
        approval.id,
        { status, by: who, ...(reason ? { reason } : {}) },
        clock.now(),
      );
      if (!result.decided) {
        const current = result.approval ?? approval;
        return page(
          request,
          409,
          'bad',
          closedTitle(current),
          closedReason(current) ?? 'This approval was decided by someone else just now.',
          approval.runId,
          current,
        );
      }
      decided = result.approval;
    }
    const at = decided.decidedAt ?? clock.now().toISOString();
    const approvalView = stageApprovalView(decided, { by: who, at, ...(reason ? { reason } : {}) });
    const approvedBy = approverNames(decided);
    if (status === 'approved') {
      await deps.runs.updateStage(
        approval.runId,
        approval.environment,
        { status: 'applying', approval: approvalView },
        clock.now(),
      );
      await deps.runs.updateRun(approval.runId, { status: 'running' }, clock.now());
    } else {
      await deps.runs.updateStage(
        approval.runId,
        approval.environment,
        { status: 'rejected', approval: approvalView },
        clock.now(),
      );
    }
    deps.log?.('approval decided', {
      approvalId: approval.id,
      runId: approval.runId,
      environment: approval.environment,
      status,
      by: who,
    });
    const delivered =
      status === 'approved'
        ? await deps.callbacks.sendTaskSuccess(approval.taskToken, {
            approvalId: approval.id,
            approvedBy,
            planSha256: approval.planSha256,
          })
        : await deps.callbacks.sendTaskFailure(
            approval.taskToken,
            'tfgate.Rejected',
            `by ${who}${reason ? `: ${reason}` : ''}`,
          );
    if (!delivered.delivered) {
      await deps.runs.updateRun(
        approval.runId,
        {
          note:
            `the ${approval.environment} decision (${status} by ${status === 'approved' ? approvedBy : who}) arrived ` +
            'after the run stopped waiting',
        },
        clock.now(),
      );
      return page(
        request,
        409,
        'bad',
        'Too late',
        'The run is no longer waiting for this approval.',
        approval.runId,
        decided,
      );
    }
    return page(
      request,
      200,
      'ok',
      status === 'approved' ? 'Approved' : 'Rejected',
      status === 'approved'
        ? `Approved by ${approvedBy}. The saved plan is being applied to ${approval.environment}.`
        : `Rejected by ${who}. Nothing will be applied to ${approval.environment}.`,
      approval.runId,
      decided,
    );
  }

  return async function handle(request: HttpRequest): Promise<HttpResponse> {
    const { method, path } = request;
    if (path === '/healthz')
      return method === 'GET' || method === 'HEAD'
        ? text(200, 'ok')
        : text(405, 'method not allowed', { allow: 'GET' });
    const approvalMatch = APPROVAL_PATH.exec(path);
    if (approvalMatch) {
      if (method === 'GET' || method === 'HEAD') return showApproval(request, approvalMatch[1]!);
      if (method === 'POST') return decide(request, approvalMatch[1]!);
      return text(405, 'method not allowed', { allow: 'GET, POST' });
    }
    if (path === '/runs' || path === '/runs/') {
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed', { allow: 'GET' });
      deps.log?.('runs viewed', { who: request.identity ? describePerson(request.identity) : undefined });
      // Pages of at most 100 runs (a function URL answers at most 6 MB); `next` continues the list.
      const limit = Math.min(
        Math.max(Number.parseInt(request.query.limit ?? String(RUNS_PAGE_SIZE), 10) || RUNS_PAGE_SIZE, 1),
        RUNS_PAGE_SIZE,
      );
      const before = request.query.before;
      if (before !== undefined && !RUN_LIST_CURSOR.test(before))
        return wantsJson(request)
          ? json(400, { error: 'before must be a cursor from "next"' })
          : text(400, 'bad cursor');
      const runs = await deps.runs.list({ limit, ...(before !== undefined ? { before } : {}) });
      const next = runs.length === limit ? runListCursor(runs[runs.length - 1]!) : undefined;
      return wantsJson(request)
        ? json(200, { runs: runs.map((run) => publicRun(run, { addresses: false })), ...(next ? { next } : {}) })
        : html(200, runsPage(runs, next));
    }
    const runMatch = RUN_PATH.exec(path);
    if (runMatch) {
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed', { allow: 'GET' });
      const run = await deps.runs.get(runMatch[1]!);
      if (!run) return notFound(request, 'run');
      deps.log?.('run viewed', { runId: run.id, who: request.identity ? describePerson(request.identity) : undefined });
      if (wantsJson(request)) return json(200, publicRun(run, { files: filesOf(run) }));
      return html(200, runPage(run, filesOf(run), await stageLogs(run)), { 'content-security-policy': RUN_PAGE_CSP });
    }
    const logMatch = LOG_PATH.exec(path);
    if (logMatch) {
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed', { allow: 'GET' });
      const run = await deps.runs.get(logMatch[1]!);
      const stage = run?.stages.find((s) => s.environment === logMatch[2]);
      if (!run || !stage) return notFound(request, 'stage');
      const asked = request.query.mode;
      if (asked !== undefined && asked !== 'plan' && asked !== 'apply') {
        return wantsJson(request)
          ? json(400, { error: 'mode must be plan or apply' })
          : text(400, 'mode must be plan or apply');
      }
      const view = await stageLog(run, stage, asked);
      if (!view) return notFound(request, 'build log');
      // Output of pull-request code: never sniffed as HTML, never run, never cached.
      const headers = {
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      };
      if (wantsJson(request)) return json(200, { runId: run.id, status: stage.status, ...view }, headers);
      return text(200, view.lines.length > 0 ? `${view.lines.join('\n')}\n` : '', headers);
    }
    const planMatch = PLAN_TEXT_PATH.exec(path);
    if (planMatch) {
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed', { allow: 'GET' });
      const run = await deps.runs.get(planMatch[1]!);
      if (!run?.stages.some((s) => s.environment === planMatch[2])) return notFound(request, 'plan');
      const body = await loadPlanText(run, planMatch[2]!);
      return body === undefined ? notFound(request, 'plan') : text(200, body);
    }
    return wantsJson(request) ? json(404, { error: 'not found' }) : text(404, 'not found');
  };
}

function closedTitle(approval: ApprovalRecord, run?: Run): string {
  if (run?.stop && approval.status !== 'approved' && approval.status !== 'rejected') return 'Stopped by an operator';
  if (approval.status === 'superseded') return 'Superseded';
  if (approval.status === 'pending' && run && isTerminalRun(run.status)) return 'Run ended';
  if (approval.status === 'expired' || approval.status === 'pending') return 'Expired';
  return 'Already decided';
}

function notFound(request: HttpRequest, what: string): HttpResponse {
  return wantsJson(request)
    ? json(404, { error: `${what} not found` })
    : html(404, decisionPage('bad', 'Not found', `No such ${what}.`));
}

function page(
  request: HttpRequest,
  status: number,
  kind: 'ok' | 'bad',
  title: string,
  message: string,
  runId?: string,
  approval?: ApprovalRecord,
): HttpResponse {
  if (wantsJson(request)) {
    return json(status, {
      ok: status === 200,
      message,
      ...(approval
        ? {
            approval: {
              id: approval.id,
              status: approval.status,
              ...(approval.decidedBy ? { by: approval.decidedBy } : {}),
              required: approvalProgress(approval).required,
              approvals: approvalProgress(approval).approvals,
            },
          }
        : {}),
      ...(runId ? { runId } : {}),
    });
  }
  return html(status, decisionPage(kind, title, message, runId));
}
