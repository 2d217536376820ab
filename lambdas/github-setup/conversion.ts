import { Octokit } from '@octokit/rest';
import * as z from 'zod/mini';
import { TfgateError } from '../../src/domain/errors.js';

/** What GitHub hands back once for the App it created from the manifest. Secret values: never logged. */
export interface CreatedGitHubApp {
  id: number;
  slug: string;
  name: string;
  htmlUrl: string;
  pem: string;
  webhookSecret: string;
  clientId: string;
  clientSecret: string;
}

export class GitHubSetupError extends TfgateError {
  override name = 'GitHubSetupError';
}

// GitHub's temporary codes are short and URL-safe; anything else never reaches the API.
export const MANIFEST_CODE = /^[A-Za-z0-9_-]{1,200}$/;

// Well inside the function's timeout, so a hung GitHub gives the link back instead of leaving it claimed.
const CONVERSION_TIMEOUT_MS = 8_000;

const conversionAnswer = z.object({
  id: z.number(),
  slug: z.string().check(z.minLength(1)),
  name: z.string(),
  html_url: z.string().check(z.regex(/^https?:\/\//)),
  pem: z.string().check(z.regex(/-----BEGIN (?:RSA )?PRIVATE KEY-----/)),
  webhook_secret: z.string().check(z.minLength(1)),
  client_id: z.string().check(z.minLength(1)),
  client_secret: z.string().check(z.minLength(1)),
});

/**
 * `POST <api>/app-manifests/{code}/conversions`: unauthenticated, the code alone (valid once, for an
 * hour) proves the App was just created from tfgate's manifest.
 */
export async function convertManifestCode(options: {
  apiUrl: string;
  code: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): Promise<CreatedGitHubApp> {
  if (!MANIFEST_CODE.test(options.code)) throw new GitHubSetupError('the code from GitHub is malformed');
  const octokit = new Octokit({
    baseUrl: options.apiUrl,
    userAgent: 'tfgate-setup',
    // Octokit's request log would print the code; failures are reported once, below, without it.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    request: {
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        (options.fetch ?? fetch)(input, {
          ...init,
          signal: AbortSignal.timeout(options.timeoutMs ?? CONVERSION_TIMEOUT_MS),
        }),
    },
  });
  let data: unknown;
  try {
    ({ data } = await octokit.rest.apps.createFromManifest({ code: options.code }));
  } catch (error) {
    // Octokit reports a network failure or timeout as status 500 without a response; only an answer has one.
    const { status, response } = error as { status?: unknown; response?: unknown };
    throw new GitHubSetupError(
      typeof status === 'number' && response !== undefined
        ? `GitHub refused the code (HTTP ${status}); it is valid once, for one hour`
        : `GitHub could not be reached: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const parsed = conversionAnswer.safeParse(data);
  // The problem is named by field only: the answer holds secrets.
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.') || 'its shape');
    throw new GitHubSetupError(`GitHub's answer lacks ${fields.join(', ')}`);
  }
  const app = parsed.data;
  return {
    id: app.id,
    slug: app.slug,
    name: app.name,
    htmlUrl: app.html_url,
    pem: app.pem,
    webhookSecret: app.webhook_secret,
    clientId: app.client_id,
    clientSecret: app.client_secret,
  };
}
