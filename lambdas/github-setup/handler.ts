import { cookieValue, randomId, sameSecret, seal, setCookie, unseal } from '../../src/auth/session.js';
import { isLoopbackUrl } from '../../src/auth/sign-in.js';
import { GITHUB_LOGIN_ENTRY } from '../../src/config/patterns.js';
import type { Clock } from '../../src/domain/ports.js';
import { html, type HttpHandler, type HttpRequest, type HttpResponse } from '../../src/http.js';
import { setupClaimKey, type SetupClaims } from './claims.js';
import { convertManifestCode, GitHubSetupError, type CreatedGitHubApp } from './conversion.js';
import {
  appManifest,
  githubEndpoints,
  installUrl,
  manifestFormAction,
  SETUP_CALLBACK_PATH,
  SETUP_PATH,
} from './manifest.js';
import { connectedPage, manifestPage, setupMessagePage } from './pages.js';
import type { GitHubAppCredentialStore } from './secrets.js';

/**
 * The GitHub App Manifest flow behind a one-time setup link. No sign-in exists before GitHub is
 * connected, so the setup token (generated at deploy, kept in a secret) is the only key:
 * GET /setup?token=… shows the manifest form; GitHub sends the browser back to GET /setup/callback
 * with a code and the `state` sealed with that token; the code is converted into the App's
 * credentials, which are stored, and the link is used up.
 */

export interface GitHubSetupDeps {
  /** The setup token from its secret; undefined when it is unset or too short to be one. */
  setupToken: () => Promise<string | undefined>;
  claims: SetupClaims;
  credentials: GitHubAppCredentialStore;
  /** `github.apiUrl` from tfgate.yaml: github.com or a GitHub Enterprise Server. */
  apiUrl: string;
  appName: string;
  webhookBaseUrl: string;
  approvalsBaseUrl: string;
  /** This function's own origin, as people reach it. */
  publicUrl: (request: HttpRequest) => string;
  /** approvers and viewers from tfgate.yaml (decide the optional permissions). */
  listedPeople: readonly string[];
  clock: Clock;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests: where the conversion endpoint is fetched. */
  fetch?: typeof fetch;
}

export const MIN_SETUP_TOKEN_LENGTH = 32;
const STATE_PURPOSE = 'github-setup-state';
const STATE_COOKIE = 'tfgate_setup';
// GitHub sends the browser back within minutes; an hour leaves room to read the page first.
const STATE_LIFETIME_SECONDS = 60 * 60;

const MESSAGES = {
  linkNeeded: 'This page opens only through the setup link printed by the command in docs/aws.md ("Connect GitHub").',
  connected:
    'GitHub is already connected through this setup link; it works only once. See docs/aws.md to connect again.',
  inProgress:
    'This setup link is being used right now. If no attempt is running any more, make a new link ' +
    '(docs/aws.md, "Connect GitHub").',
  badOrganization: 'An organization name has letters, digits and hyphens only (at most 39).',
  foreignState:
    'This answer from GitHub does not belong to a setup started here with the setup link (or it is over an hour ' +
    'old). Open the setup link again.',
  noCode: 'GitHub sent no code back. Open the setup link again.',
  unavailable: 'tfgate cannot reach its secrets or tables right now. Try the setup link again in a minute.',
} as const;

export function createGitHubSetupHandler(deps: GitHubSetupDeps): HttpHandler {
  const endpoints = githubEndpoints(deps.apiUrl);
  const webOrigin = new URL(endpoints.web).origin;
  const nowSeconds = () => Math.floor(deps.clock.now().getTime() / 1000);
  const secure = (request: HttpRequest) => !isLoopbackUrl(deps.publicUrl(request));
  const page = (
    status: number,
    body: string,
    headers: Record<string, string> = {},
    cookies?: string[],
  ): HttpResponse => ({
    ...html(status, body, headers),
    ...(cookies ? { cookies } : {}),
  });
  const message = (status: number, title: string, text: string) => page(status, setupMessagePage(title, text));
  const refused = () => message(403, 'Setup link needed', MESSAGES.linkNeeded);

  async function tokenFrom(given: string | undefined): Promise<string | undefined> {
    const token = await deps.setupToken();
    if (token === undefined || token.length < MIN_SETUP_TOKEN_LENGTH) return undefined;
    return sameSecret(given, token) ? token : undefined;
  }

  async function usedUp(key: string): Promise<HttpResponse | undefined> {
    const state = await deps.claims.state(key);
    if (state === 'connected') return message(410, 'Already connected', MESSAGES.connected);
    if (state === 'claimed') return message(409, 'Setup in progress', MESSAGES.inProgress);
    return undefined;
  }

  async function showManifestForm(request: HttpRequest): Promise<HttpResponse> {
    const token = await tokenFrom(request.query.token);
    if (!token) return refused();
    const blocked = await usedUp(setupClaimKey(token));
    if (blocked) return blocked;
    const organization = request.query.organization?.trim() || undefined;
    if (organization !== undefined && !GITHUB_LOGIN_ENTRY.test(`@${organization}`)) {
      return message(400, 'Not an organization name', MESSAGES.badOrganization);
    }
    // The state is sealed with the setup token and names a nonce that only this browser holds in a
    // cookie: an answer from GitHub is taken only from the browser that started here with the link.
    const nonce = randomId();
    const state = seal(token, STATE_PURPOSE, { n: nonce, exp: nowSeconds() + STATE_LIFETIME_SECONDS });
    const manifest = appManifest({
      name: deps.appName,
      webhookBaseUrl: deps.webhookBaseUrl,
      approvalsBaseUrl: deps.approvalsBaseUrl,
      setupBaseUrl: deps.publicUrl(request),
      listedPeople: deps.listedPeople,
    });
    const body = manifestPage({
      action: manifestFormAction(endpoints, state, organization),
      manifest,
      token,
      webOrigin: endpoints.web,
      ...(organization ? { organization } : {}),
    });
    // The one form that leaves tfgate goes to GitHub's web host.
    const csp =
      `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${webOrigin}; ` +
      "frame-ancestors 'none'; base-uri 'none'";
    const cookie =
      `${STATE_COOKIE}=${nonce}; Path=${SETUP_PATH}; Max-Age=${STATE_LIFETIME_SECONDS}; HttpOnly; SameSite=Lax` +
      (secure(request) ? '; Secure' : '');
    return page(200, body, { 'content-security-policy': csp }, [cookie]);
  }

  async function finish(request: HttpRequest): Promise<HttpResponse> {
    const token = await deps.setupToken();
    if (token === undefined || token.length < MIN_SETUP_TOKEN_LENGTH) return refused();
    const state = unseal(token, STATE_PURPOSE, request.query.state, nowSeconds());
    const nonce = typeof state?.n === 'string' ? state.n : undefined;
    if (!nonce || !sameSecret(cookieValue(request.headers.cookie, STATE_COOKIE), nonce)) {
      deps.log('setup callback refused: state does not match the setup link');
      return message(403, 'Not from this setup', MESSAGES.foreignState);
    }
    const code = request.query.code;
    if (!code) return message(400, 'No code from GitHub', MESSAGES.noCode);
    const key = setupClaimKey(token);
    if (!(await deps.claims.claim(key, deps.clock.now()))) {
      return (await usedUp(key)) ?? message(409, 'Setup in progress', MESSAGES.inProgress);
    }

    let app: CreatedGitHubApp;
    try {
      app = await convertManifestCode({ apiUrl: endpoints.api, code, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
    } catch (error) {
      await deps.claims.release(key);
      const problem = error instanceof GitHubSetupError ? error.message : 'unexpected error';
      deps.log('manifest conversion failed', { error: problem });
      return message(502, 'GitHub did not hand over the App', `${problem}. Open the setup link again to start over.`);
    }
    try {
      await deps.credentials.store(app);
    } catch (error) {
      await deps.claims.release(key);
      // The error's name only: an SDK message could quote the request.
      deps.log('storing the GitHub App credentials failed', {
        app: app.slug,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return message(
        500,
        'Credentials not stored',
        `GitHub created the App "${app.slug}", but its credentials could not be stored. ` +
          `Delete it (${app.htmlUrl}, Advanced) and open the setup link again.`,
      );
    }
    try {
      await deps.claims.markConnected(key, deps.clock.now(), app.slug);
    } catch (error) {
      // The claim itself already keeps the link used up; only its label is missing.
      deps.log('the setup claim could not be marked connected', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    deps.log('GitHub App connected', { app: app.slug, appId: app.id });
    // The link shown is on the GitHub the flow ran against, whatever the answer says.
    const htmlUrl =
      new URL(app.htmlUrl).origin === webOrigin ? app.htmlUrl : `${endpoints.web}/apps/${encodeURIComponent(app.slug)}`;
    const clearCookie = setCookie(STATE_COOKIE, '', 0, secure(request)).replace('Path=/', `Path=${SETUP_PATH}`);
    return page(200, connectedPage({ appName: app.name || app.slug, htmlUrl, installUrl: installUrl(htmlUrl) }), {}, [
      clearCookie,
    ]);
  }

  return async (request) => {
    try {
      const get = request.method === 'GET';
      if ((get || request.method === 'HEAD') && request.path === SETUP_PATH) return await showManifestForm(request);
      // GET only: the callback spends GitHub's one-time code and the link.
      if (get && request.path === SETUP_CALLBACK_PATH) return await finish(request);
    } catch (error) {
      // Secrets Manager or DynamoDB failing: nothing was stored, the link still works.
      deps.log('setup unavailable', { error: error instanceof Error ? error.message : String(error) });
      return message(503, 'Unavailable', MESSAGES.unavailable);
    }
    return message(404, 'Not found', 'Nothing here.');
  };
}
