/**
 * GitHub, as tfgate's functions will reach it: with a GitHub App, a JWT minted from the stored App id and
 * private key must be accepted by `GET /app`, and the App must be installed on every configured
 * repository; with a token, the token must read every configured repository. Asked of `github.apiUrl`
 * as deployed (GitHub Enterprise Server included), each request with a time limit.
 */
import { createAppAuth } from '@octokit/auth-app';
import type { StoredGitHubCredentials } from '../adapters/github/credentials.js';
import type { DoctorContext } from './context.js';
import type { DoctorFacts } from './facts.js';
import { type CheckResult, fail, pass } from './result.js';

const ID = 'github';

interface Answer {
  status: number;
  body: unknown;
}

async function get(ctx: DoctorContext, url: string, authorization: string): Promise<Answer> {
  const response = await ctx.fetch(url, {
    headers: {
      accept: 'application/vnd.github+json',
      authorization,
      'user-agent': 'tfgate-doctor',
      'x-github-api-version': '2022-11-28',
    },
    redirect: 'manual',
    signal: AbortSignal.timeout(ctx.httpTimeoutMs),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

function unreachable(ctx: DoctorContext, apiUrl: string, error: unknown): string {
  const name = (error as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError')
    return `${apiUrl} did not answer within ${ctx.httpTimeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `could not reach ${apiUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`;
}

export async function checkGitHub(
  ctx: DoctorContext,
  facts: DoctorFacts,
  credentials: StoredGitHubCredentials | undefined,
): Promise<CheckResult> {
  const apiUrl = facts.githubApiUrl.replace(/\/+$/, '');
  if (!credentials)
    return fail(ID, 'GitHub reachable with the stored credentials', 'not checked: the GitHub secret is not usable', [
      'fill the GitHub secret first (see the line above)',
    ]);
  return credentials.kind === 'app'
    ? checkApp(ctx, apiUrl, facts.repositories, credentials)
    : checkToken(ctx, apiUrl, facts.repositories, credentials.token);
}

async function checkApp(
  ctx: DoctorContext,
  apiUrl: string,
  repositories: string[],
  credentials: { appId: string; privateKey: string },
): Promise<CheckResult> {
  const title = `GitHub App ${credentials.appId} at ${apiUrl}`;
  let jwt: string;
  try {
    const auth = createAppAuth({ appId: credentials.appId, privateKey: credentials.privateKey });
    jwt = (await auth({ type: 'app' })).token;
  } catch {
    // The library's message may quote the key material it could not read.
    return fail(ID, title, 'the private key in the GitHub secret cannot sign a token (not an RSA private key?)', [
      "store the App's private key again (the .pem GitHub generated), or run the GitHub setup link again",
    ]);
  }
  let app: Answer;
  try {
    app = await get(ctx, `${apiUrl}/app`, `Bearer ${jwt}`);
  } catch (error) {
    return fail(ID, title, unreachable(ctx, apiUrl, error), [`check github.apiUrl (${apiUrl}) and this network`]);
  }
  if (app.status === 401)
    return fail(ID, title, 'GitHub refused a token signed with the stored key (401)', [
      'the App id and private key in the GitHub secret do not belong together, or the key was revoked: generate a ' +
        'new private key in the App settings and store it, or run the GitHub setup link again',
      "is this machine's clock right? GitHub refuses tokens issued in the future",
    ]);
  if (app.status !== 200)
    return fail(ID, title, `GET /app answered ${app.status}`, [`check github.apiUrl (${apiUrl})`]);
  const body = (app.body ?? {}) as { slug?: unknown; html_url?: unknown };
  const slug = typeof body.slug === 'string' ? body.slug : `App ${credentials.appId}`;
  const appPage = typeof body.html_url === 'string' && /^https?:\/\//.test(body.html_url) ? body.html_url : undefined;

  const missing: string[] = [];
  const problems: string[] = [];
  for (const repository of repositories) {
    try {
      const answer = await get(ctx, `${apiUrl}/repos/${repository}/installation`, `Bearer ${jwt}`);
      if (answer.status === 404) missing.push(repository);
      else if (answer.status !== 200) problems.push(`${repository}: ${answer.status}`);
    } catch (error) {
      problems.push(`${repository}: ${unreachable(ctx, apiUrl, error)}`);
    }
  }
  const titled = `GitHub App ${slug} at ${apiUrl}`;
  if (missing.length > 0 || problems.length > 0) {
    const detail = [
      ...(missing.length > 0 ? [`not installed on ${missing.join(', ')}`] : []),
      ...(problems.length > 0 ? [`installation lookup failed for ${problems.join('; ')}`] : []),
    ].join('; ');
    return fail(ID, titled, detail, [
      appPage
        ? `install it on those repositories: ${appPage}/installations/new`
        : 'install the App on those repositories (App settings → Install App)',
    ]);
  }
  return pass(ID, titled, `reachable; installed on ${repositories.length} of ${repositories.length} repositories`);
}

async function checkToken(
  ctx: DoctorContext,
  apiUrl: string,
  repositories: string[],
  token: string,
): Promise<CheckResult> {
  const title = `GitHub token at ${apiUrl}`;
  const unreadable: string[] = [];
  for (const repository of repositories) {
    let answer: Answer;
    try {
      answer = await get(ctx, `${apiUrl}/repos/${repository}`, `Bearer ${token}`);
    } catch (error) {
      return fail(ID, title, unreachable(ctx, apiUrl, error), [`check github.apiUrl (${apiUrl}) and this network`]);
    }
    if (answer.status === 401)
      return fail(ID, title, 'GitHub refused the stored token (401): expired or revoked', [
        'store a new token in the GitHub secret, or connect a GitHub App with the setup link',
      ]);
    if (answer.status !== 200) unreadable.push(`${repository} (${answer.status})`);
  }
  if (unreadable.length > 0)
    return fail(ID, title, `the token cannot read ${unreadable.join(', ')}`, [
      'give the token Contents read, Commit statuses and Pull requests read/write on those repositories',
    ]);
  return pass(ID, title, `reachable; reads all ${repositories.length} repositories`);
}
