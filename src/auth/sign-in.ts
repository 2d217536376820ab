import { createHash } from 'node:crypto';
import { exchangeWebFlowCode, getWebFlowAuthorizationUrl } from '@octokit/oauth-methods';
import { Octokit } from '@octokit/rest';
import { EMAIL } from '../config/patterns.js';
import type { Clock, RequestCounters, SessionRevocations } from '../domain/ports.js';
import { systemClock } from '../domain/ports.js';
import {
  html,
  json,
  redirect,
  text,
  wantsJson,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
} from '../http.js';
import {
  emailConfirmPage,
  emailSentPage,
  messagePage,
  signInPage,
  signOutPage,
  tooManyLinksPage,
} from '../web/sign-in-pages.js';
import {
  describePerson,
  matchListed,
  NO_BINDINGS,
  resolvePerson,
  type PeopleBindings,
  type SignedInPerson,
  type TeamDirectory,
} from './person.js';
import {
  cookieValue,
  EMAIL_LINK_LIFETIME_SECONDS,
  OAUTH_STATE_COOKIE,
  OAUTH_STATE_LIFETIME_SECONDS,
  openSession,
  randomId,
  sameSecret,
  seal,
  sealSession,
  SESSION_COOKIE,
  SESSION_LIFETIME_SECONDS,
  setCookie,
  unseal,
} from './session.js';

/**
 * The sign-in: one gate in front of every route but `/webhook` and `/healthz`, the same in the AWS
 * approvals function and the local server. A person is identified by a session cookie from GitHub's
 * OAuth web flow or a one-time emailed link; the `tfgate` CLI on the machine running `tfgate local`
 * by the local credential (`Authorization: Bearer …`, a file only its owner can read). Without
 * either, HTML asks for a sign-in and JSON gets 401, and neither says anything about any run.
 *
 * Routes: GET /auth/sign-in, GET /auth/github, GET /auth/github/callback, POST /auth/email,
 * GET+POST /auth/email/confirm, GET+POST /auth/sign-out.
 *
 * Who signed in is resolved through `people:` on every request (a GitHub login takes on its bound addresses, a
 * bound address takes on its login). A signed-out session is revoked server-side (`sessions`) and checked on every
 * request. Link requests are counted per address and per client (`counters`) and answered before the address is
 * looked up or any mail is sent (`sendLinkLater`), so the answer is the same, and as quick, for every address.
 */

/** A sign-in link to deliver: mailed only if the address may sign in, decided after the request was answered. */
export interface SignInLinkJob {
  email: string;
  link: string;
}

/** Sign-in link requests: at most this many per address, and per client, in each window. */
export const LINK_REQUEST_LIMITS = { perAddress: 5, perClient: 30, windowSeconds: 15 * 60 } as const;

export interface GitHubSignInSettings {
  /** `github.apiUrl`: GitHub Enterprise Server moves the OAuth endpoints with it. */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** A GitHub App's client id and secret, or an OAuth app's. */
  clientType: 'github-app' | 'oauth-app';
}

export interface SignInMailer {
  /** Sends the one-time link to that address only. */
  sendSignInLink(to: string, link: string): Promise<void>;
}

export interface SignInDeps {
  sessionKey: string;
  /** The origin people reach tfgate at (OAuth callback and email links are built on it). */
  publicUrl: (request: HttpRequest) => string;
  /** Everyone who may sign in: approvers of every gate and `access.viewers` (lower-case entries). */
  listed: () => readonly string[];
  github?: GitHubSignInSettings;
  teams?: TeamDirectory;
  mail?: SignInMailer;
  /** One conditional write per link: true the first time an id is claimed, false ever after. */
  oneTime: { claim(id: string, at: Date): Promise<boolean> };
  /** Sign-outs, checked on every request that shows a session cookie. */
  sessions: SessionRevocations;
  /** Link requests per address and per client, counted across instances. */
  counters: RequestCounters;
  /**
   * Hands a link over to be delivered (`deliverLink`) after this request is answered, without waiting for the
   * lookup or the mail. AWS: an asynchronous invocation of the function itself. Absent (tfgate local): the work
   * starts once the answer has been written.
   */
  sendLinkLater?: (job: SignInLinkJob) => Promise<void>;
  /** `people:`: who is who across sign-in methods. */
  people?: PeopleBindings;
  /** `tfgate local`: the credential the CLI presents (`<data>/secrets/local-credential`). */
  localCredential?: string;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests: where GitHub's OAuth endpoints and API are fetched. */
  fetch?: typeof fetch;
}

export interface SignIn {
  /** The person behind the request, resolved through `people:`; undefined without a live session. */
  identify(request: HttpRequest): Promise<SignedInPerson | undefined>;
  /** Looks the address up and mails the link if it may sign in (the work `sendLinkLater` defers). */
  deliverLink(job: SignInLinkJob): Promise<void>;
  /** Wraps a handler: sign-in routes answered here, `/healthz` passed through, everything else needs a person. */
  protect(handler: HttpHandler): HttpHandler;
}

const PUBLIC_PATHS = new Set(['/healthz', '/webhook']);
const MAX_FORM_BYTES = 8 * 1024;
const GITHUB_TIMEOUT_MS = 10_000;

export function createSignIn(deps: SignInDeps): SignIn {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? (() => undefined);
  const now = () => Math.floor(clock.now().getTime() / 1000);

  function secure(request: HttpRequest): boolean {
    return !isLoopbackUrl(deps.publicUrl(request));
  }

  const people = deps.people ?? NO_BINDINGS;

  async function identify(request: HttpRequest): Promise<SignedInPerson | undefined> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const bearer = /^Bearer (\S+)$/i.exec(authorization)?.[1];
      return deps.localCredential && sameSecret(bearer, deps.localCredential)
        ? { via: 'local', emails: [], sessionId: 'local-credential' }
        : undefined;
    }
    const session = openSession(deps.sessionKey, cookieValue(request.headers.cookie, SESSION_COOKIE), now());
    if (!session) return undefined;
    if (await deps.sessions.isRevoked(session.sessionId)) return undefined;
    return resolvePerson(session, people);
  }

  function startSession(
    request: HttpRequest,
    person: Omit<SignedInPerson, 'sessionId'>,
    next: string,
    extraCookies: string[] = [],
  ): HttpResponse {
    const { value } = sealSession(deps.sessionKey, person, now());
    log('signed in', { who: describePerson(person), via: person.via });
    return redirect(next, [
      setCookie(SESSION_COOKIE, value, SESSION_LIFETIME_SECONDS, secure(request)),
      ...extraCookies,
    ]);
  }

  async function mayUse(person: SignedInPerson): Promise<boolean> {
    return (await matchListed(resolvePerson(person, people), deps.listed(), deps.teams)).matched;
  }

  function showSignIn(request: HttpRequest, message?: string, status = 200): HttpResponse {
    const next = safeNext(request.query.next);
    return html(
      status,
      signInPage({
        next,
        github: deps.github !== undefined,
        email: deps.mail !== undefined,
        ...(message ? { message } : {}),
      }),
    );
  }

  // GitHub answering slowly must not hold a sign-in (or the function) open: each call gets 10 s.
  const timedFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    (deps.fetch ?? fetch)(input, {
      ...init,
      signal: init?.signal
        ? AbortSignal.any([init.signal, AbortSignal.timeout(GITHUB_TIMEOUT_MS)])
        : AbortSignal.timeout(GITHUB_TIMEOUT_MS),
    });

  function githubRequest() {
    return new Octokit({
      baseUrl: deps.github!.apiUrl.replace(/\/+$/, ''),
      userAgent: 'tfgate',
      request: { fetch: timedFetch },
    }).request;
  }

  function beginGitHub(request: HttpRequest): HttpResponse {
    if (!deps.github) return showSignIn(request, 'GitHub sign-in is not set up here.', 404);
    const state = randomId();
    const common = {
      clientId: deps.github.clientId,
      redirectUrl: `${deps.publicUrl(request)}/auth/github/callback`,
      state,
      request: githubRequest(),
    };
    // An OAuth app asks for verified addresses (user:email); a GitHub App has them by its "Email addresses"
    // permission. Team membership is checked with tfgate's own GitHub credentials, never the person's token.
    const { url } =
      deps.github.clientType === 'github-app'
        ? getWebFlowAuthorizationUrl({ clientType: 'github-app', ...common })
        : getWebFlowAuthorizationUrl({ clientType: 'oauth-app', scopes: ['user:email'], ...common });
    const cookie = seal(deps.sessionKey, 'oauth-state', {
      state,
      next: safeNext(request.query.next),
      exp: now() + OAUTH_STATE_LIFETIME_SECONDS,
    });
    return {
      ...redirect(url, [setCookie(OAUTH_STATE_COOKIE, cookie, OAUTH_STATE_LIFETIME_SECONDS, secure(request))]),
      status: 302,
    };
  }

  async function finishGitHub(request: HttpRequest): Promise<HttpResponse> {
    if (!deps.github) return showSignIn(request, 'GitHub sign-in is not set up here.', 404);
    const saved = unseal(
      deps.sessionKey,
      'oauth-state',
      cookieValue(request.headers.cookie, OAUTH_STATE_COOKIE),
      now(),
    );
    const clearState = setCookie(OAUTH_STATE_COOKIE, '', 0, secure(request));
    const code = request.query.code;
    if (
      !saved ||
      typeof saved.state !== 'string' ||
      !sameSecret(request.query.state, saved.state) ||
      !code ||
      code.length > 512
    ) {
      log('sign-in refused', { via: 'github', why: 'state or code missing or wrong' });
      return {
        ...html(
          400,
          messagePage(
            'Sign-in failed',
            'This sign-in did not start here or took too long. Start again from the sign-in page.',
          ),
        ),
        cookies: [clearState],
      };
    }
    let person: Omit<SignedInPerson, 'sessionId'>;
    try {
      const request = githubRequest();
      const exchange = { clientId: deps.github.clientId, clientSecret: deps.github.clientSecret, code, request };
      const { authentication } =
        deps.github.clientType === 'github-app'
          ? await exchangeWebFlowCode({ clientType: 'github-app', ...exchange })
          : await exchangeWebFlowCode({ clientType: 'oauth-app', ...exchange });
      const user = new Octokit({
        baseUrl: deps.github.apiUrl.replace(/\/+$/, ''),
        auth: authentication.token,
        userAgent: 'tfgate',
        request: { fetch: timedFetch },
      });
      const { data } = await user.rest.users.getAuthenticated();
      // Only addresses GitHub has verified count; a GitHub App without the email permission gives none.
      const emails = await user.rest.users
        .listEmailsForAuthenticatedUser({ per_page: 100 })
        .then(({ data: list }) => list.filter((e) => e.verified).map((e) => e.email.toLowerCase()))
        .catch(() => [] as string[]);
      person = { via: 'github', login: data.login.toLowerCase(), emails };
    } catch (error) {
      log('sign-in refused', { via: 'github', why: `GitHub did not confirm the sign-in: ${(error as Error).message}` });
      return {
        ...html(
          502,
          messagePage('Sign-in failed', 'GitHub did not confirm the sign-in. Start again from the sign-in page.'),
        ),
        cookies: [clearState],
      };
    }
    if (!(await mayUse({ ...person, sessionId: '' }))) {
      log('sign-in refused', { via: 'github', who: describePerson(person), why: 'not an approver or viewer' });
      return {
        ...html(
          403,
          messagePage('Not allowed', `${describePerson(person)} is not an approver or viewer in tfgate.yaml.`),
        ),
        cookies: [clearState],
      };
    }
    return startSession(request, person, typeof saved.next === 'string' ? safeNext(saved.next) : '/runs', [clearState]);
  }

  async function requestEmailLink(request: HttpRequest): Promise<HttpResponse> {
    if (!deps.mail) return showSignIn(request, 'Email sign-in is not set up here.', 404);
    const refused = formProblem(request);
    if (refused) return refused;
    const form = new URLSearchParams(request.body.toString('utf8'));
    const email = (form.get('email') ?? '').trim().toLowerCase();
    const next = safeNext(form.get('next') ?? undefined);
    // Counted before anything about the address is known, for listed and unlisted addresses alike.
    const windowEndsAt =
      (Math.floor(now() / LINK_REQUEST_LIMITS.windowSeconds) + 1) * LINK_REQUEST_LIMITS.windowSeconds;
    const client = request.clientAddress ?? 'unknown';
    const clientOk = await deps.counters.take(`client:${digest(client)}`, LINK_REQUEST_LIMITS.perClient, windowEndsAt);
    const wellFormed = EMAIL.test(email) && email.length <= 320;
    const addressOk =
      clientOk && wellFormed
        ? await deps.counters.take(`address:${digest(email)}`, LINK_REQUEST_LIMITS.perAddress, windowEndsAt)
        : clientOk;
    if (!clientOk || !addressOk) {
      log('sign-in link refused', {
        why: clientOk ? 'too many requests for this address' : 'too many requests from this client',
      });
      return html(429, tooManyLinksPage(Math.ceil((windowEndsAt - now()) / 60)), {
        'retry-after': String(Math.max(1, windowEndsAt - now())),
      });
    }
    if (wellFormed) {
      // The link is made for every address; whether it is mailed is decided later, out of this answer's time.
      const token = seal(deps.sessionKey, 'email-link', {
        email,
        next,
        nonce: randomId(),
        exp: now() + EMAIL_LINK_LIFETIME_SECONDS,
      });
      const job = { email, link: `${deps.publicUrl(request)}/auth/email/confirm?token=${encodeURIComponent(token)}` };
      if (deps.sendLinkLater) await deps.sendLinkLater(job);
      else afterAnswer(() => deliverLink(job));
    }
    // The same answer whether or not the address is listed: the page never tells who may use tfgate.
    return html(200, emailSentPage());
  }

  /** tfgate local: starts `work` after the answer now being returned has been written (a later turn of the loop). */
  function afterAnswer(work: () => Promise<void>): void {
    setImmediate(() => {
      work().catch((error: unknown) => log('sign-in link not sent', { error: (error as Error).message }));
    });
  }

  async function deliverLink(job: SignInLinkJob): Promise<void> {
    if (!deps.mail) return;
    if (!(await mayUse({ via: 'email', emails: [job.email], sessionId: '' }))) {
      log('sign-in link not sent', { why: 'address not listed' });
      return;
    }
    try {
      await deps.mail.sendSignInLink(job.email, job.link);
      log('sign-in link sent', { to: job.email });
    } catch (error) {
      log('sign-in link not sent', { to: job.email, error: (error as Error).message });
    }
  }

  function readEmailToken(
    token: string | undefined | null,
  ): { email: string; next: string; nonce: string; nextIsSafe: boolean } | undefined {
    const payload = unseal(deps.sessionKey, 'email-link', token ?? undefined, now());
    if (
      !payload ||
      typeof payload.email !== 'string' ||
      typeof payload.nonce !== 'string' ||
      typeof payload.next !== 'string'
    )
      return undefined;
    const next = safeNext(payload.next);
    return { email: payload.email, next, nonce: payload.nonce, nextIsSafe: next === payload.next };
  }

  const badNextPage = () =>
    html(
      400,
      messagePage(
        'Link not valid',
        'This sign-in link would lead to a page that is not on this site, so it was not used. Ask for a new one.',
      ),
    );

  function showEmailConfirm(request: HttpRequest): HttpResponse {
    // A GET only shows a button: mail scanners that open links must not use them up.
    const link = readEmailToken(request.query.token);
    if (!link)
      return html(
        400,
        messagePage(
          'Link not valid',
          'This sign-in link is not valid or has expired (links last 15 minutes). Ask for a new one.',
        ),
      );
    if (!link.nextIsSafe) return badNextPage();
    return html(200, emailConfirmPage(request.query.token!, link.email));
  }

  async function confirmEmail(request: HttpRequest): Promise<HttpResponse> {
    const refused = formProblem(request);
    if (refused) return refused;
    const token = new URLSearchParams(request.body.toString('utf8')).get('token');
    const link = readEmailToken(token);
    if (!link)
      return html(
        400,
        messagePage(
          'Link not valid',
          'This sign-in link is not valid or has expired (links last 15 minutes). Ask for a new one.',
        ),
      );
    // Checked before the link is used up: a link that cannot lead anywhere safe is refused and stays unused.
    if (!link.nextIsSafe) return badNextPage();
    if (!(await deps.oneTime.claim(`sign-in-link:${link.nonce}`, clock.now()))) {
      log('sign-in refused', { via: 'email', who: link.email, why: 'link already used' });
      return html(
        409,
        messagePage(
          'Link already used',
          'This sign-in link was used already; each link works once. Ask for a new one.',
        ),
      );
    }
    const person = { via: 'email' as const, emails: [link.email] };
    // Removed from the list since the link was sent: no session.
    if (!(await mayUse({ ...person, sessionId: '' })))
      return html(403, messagePage('Not allowed', `${link.email} is not an approver or viewer in tfgate.yaml.`));
    return startSession(request, person, link.next);
  }

  async function signOut(request: HttpRequest): Promise<HttpResponse> {
    const refused = formProblem(request, { allowEmpty: true });
    if (refused) return refused;
    // Clearing the cookie is not enough: a copy of it (another tab, a stolen one) would last its 8 hours.
    const session = unseal(deps.sessionKey, 'session', cookieValue(request.headers.cookie, SESSION_COOKIE), now());
    if (session && typeof session.sid === 'string' && typeof session.exp === 'number') {
      await deps.sessions.revoke(session.sid, session.exp, clock.now());
      log('signed out', { session: session.sid.slice(0, 8) });
    }
    return redirect('/auth/sign-in', [setCookie(SESSION_COOKIE, '', 0, secure(request))]);
  }

  async function authRoutes(request: HttpRequest): Promise<HttpResponse> {
    const { method, path } = request;
    const get = method === 'GET' || method === 'HEAD';
    if (path === '/auth/sign-in' && get) return showSignIn(request);
    if (path === '/auth/github' && get) return beginGitHub(request);
    if (path === '/auth/github/callback' && get) return finishGitHub(request);
    if (path === '/auth/email' && method === 'POST') return requestEmailLink(request);
    if (path === '/auth/email/confirm' && get) return showEmailConfirm(request);
    if (path === '/auth/email/confirm' && method === 'POST') return confirmEmail(request);
    if (path === '/auth/sign-out' && get) return html(200, signOutPage());
    if (path === '/auth/sign-out' && method === 'POST') return signOut(request);
    return text(404, 'not found');
  }

  return {
    identify,
    deliverLink,
    protect(handler: HttpHandler): HttpHandler {
      return async (request) => {
        const { identity: _dropped, ...bare } = request;
        if (PUBLIC_PATHS.has(request.path)) return handler(bare);
        if (request.path.startsWith('/auth/')) return authRoutes(bare);
        const person = await identify(bare);
        if (!person) {
          if (wantsJson(request)) return json(401, { error: 'sign in first', signIn: '/auth/sign-in' });
          if (request.method === 'GET' || request.method === 'HEAD')
            return redirect(`/auth/sign-in?next=${encodeURIComponent(safeNext(request.path))}`);
          return html(401, messagePage('Sign in first', 'Sign in, then open the page again.'));
        }
        return handler({ ...bare, identity: person });
      };
    },
  };
}

/** Sign-in forms come from tfgate's own pages: right content type, not from another site. */
function formProblem(request: HttpRequest, options: { allowEmpty?: boolean } = {}): HttpResponse | undefined {
  if (request.body.length > MAX_FORM_BYTES) return text(413, 'the form is too large');
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded' && !(options.allowEmpty && request.body.length === 0))
    return text(415, 'send the form as application/x-www-form-urlencoded');
  if (isCrossSite(request)) return html(403, messagePage('Refused', 'The form was sent from another site.'));
  return undefined;
}

/**
 * What a browser says about where a request came from. Sec-Fetch-Site is the browser's own verdict;
 * without it (older browsers), the Origin. `Origin: null` is what a sandboxed frame, a `data:` page or a
 * redirect chain sends: an origin that is not this site, so cross-site. (Pages are served with
 * `Referrer-Policy: same-origin`, so a browser's own form posts carry this site's Origin.) Clients that say
 * nothing are not browsers (the CLI).
 */
export function isCrossSite(request: HttpRequest): boolean {
  const site = (request.headers['sec-fetch-site'] ?? '').toLowerCase();
  if (site !== '') return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  if (origin.trim().toLowerCase() === 'null' || request.headers.host === undefined) return true;
  try {
    return new URL(origin).host.toLowerCase() !== request.headers.host.toLowerCase();
  } catch {
    return true;
  }
}

/**
 * Only a path on this site: never another origin (`//evil`, `/\evil`, `https:`), and only printable ASCII
 * (a path as a browser sends it, percent-encoded), so it can always go in a Location header.
 */
export function safeNext(next: string | undefined): string {
  if (
    !next ||
    next.length > 512 ||
    !next.startsWith('/') ||
    next.startsWith('//') ||
    next.includes('\\') ||
    !/^[\x21-\x7e]+$/.test(next) ||
    next.startsWith('/auth/')
  )
    return '/runs';
  return next;
}

/** Rate-limit keys name no address or client in clear. */
function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 32);
}

export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

/** `tfgate local`: the host names a browser may use to reach it (the configured host and loopback). */
export function loopbackHosts(host: string): Set<string> {
  const names = new Set([host.toLowerCase(), '127.0.0.1', 'localhost', '[::1]']);
  if (host.includes(':') && !host.startsWith('[')) names.add(`[${host.toLowerCase()}]`);
  return names;
}

/** The name in a Host header, without the port: what DNS rebinding changes. */
export function hostName(header: string | undefined): string {
  const value = (header ?? '').trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  const colon = value.lastIndexOf(':');
  return colon >= 0 ? value.slice(0, colon) : value;
}

/** `/local/*` routes: the local credential, a JSON body, same-origin. Undefined when allowed. */
export function localOperatorProblem(request: HttpRequest): HttpResponse | undefined {
  if (request.identity?.via !== 'local')
    return json(403, { error: 'this route needs the local credential (the tfgate CLI on this machine)' });
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/json') return json(415, { error: 'the body must be application/json' });
  if (isCrossSite(request)) return json(403, { error: 'cross-site requests are refused' });
  return undefined;
}
