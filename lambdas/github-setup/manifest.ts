import { EMAIL, GITHUB_TEAM_ENTRY } from '../../src/config/patterns.js';
import { githubWebHost } from '../../src/adapters/github/archiver.js';

/**
 * The GitHub App tfgate asks GitHub to create (GitHub's App Manifest flow), and where that flow lives
 * on github.com or on a GitHub Enterprise Server. Pure: no I/O.
 */

/** The setup page's own callback, where GitHub sends the browser back with the conversion code. */
export const SETUP_PATH = '/setup';
export const SETUP_CALLBACK_PATH = '/setup/callback';
/** The sign-in callback (src/auth/sign-in.ts) on the approvals URL. */
export const SIGN_IN_CALLBACK_PATH = '/auth/github/callback';
/** The webhook route on the webhook function's URL. */
export const WEBHOOK_PATH = '/webhook';

// GitHub refuses App names longer than 34 characters.
const MAX_APP_NAME = 34;

export interface GitHubEndpoints {
  /** Where people go in a browser: https://github.com, or https://HOST for Enterprise Server. */
  web: string;
  /** The REST API: https://api.github.com, or https://HOST/api/v3 for Enterprise Server. */
  api: string;
}

/** From `github.apiUrl`: github.com's API lives on its own host, Enterprise Server's under /api/v3 of the web host. */
export function githubEndpoints(apiUrl: string): GitHubEndpoints {
  const api = new URL(apiUrl);
  return { web: `${api.protocol}//${githubWebHost(apiUrl)}`, api: apiUrl.replace(/\/+$/, '') };
}

/**
 * Where the manifest form is posted: the signed-in person's own account, or an organization they
 * administer. `state` comes back with the code and ties the redirect to this setup link.
 */
export function manifestFormAction(endpoints: GitHubEndpoints, state: string, organization?: string): string {
  const path = organization
    ? `/organizations/${encodeURIComponent(organization)}/settings/apps/new`
    : '/settings/apps/new';
  return `${endpoints.web}${path}?state=${encodeURIComponent(state)}`;
}

/** After GitHub created the App, people install it on the repositories tfgate watches here. */
export function installUrl(appHtmlUrl: string): string {
  return `${appHtmlUrl.replace(/\/+$/, '')}/installations/new`;
}

export interface ManifestInputs {
  name: string;
  /** The webhook function's URL (the webhook route is appended). */
  webhookBaseUrl: string;
  /** The approvals function's URL: the App's homepage and the base of the sign-in callback. */
  approvalsBaseUrl: string;
  /** This setup function's URL (the callback route is appended). */
  setupBaseUrl: string;
  /** approvers and viewers from tfgate.yaml: teams need `members: read`, email entries need the verified addresses. */
  listedPeople: readonly string[];
}

export interface AppManifest {
  name: string;
  url: string;
  description: string;
  hook_attributes: { url: string; active: boolean };
  redirect_url: string;
  callback_urls: string[];
  public: boolean;
  default_permissions: Record<string, 'read' | 'write'>;
  default_events: string[];
  request_oauth_on_install: boolean;
}

/** The permissions tfgate uses, and nothing else. */
export function appPermissions(listedPeople: readonly string[]): Record<string, 'read' | 'write'> {
  const permissions: Record<string, 'read' | 'write'> = {
    // Commit archives the builds plan from, branch heads, commits and push activity.
    contents: 'read',
    metadata: 'read',
    // The tfgate/<environment> commit statuses.
    statuses: 'write',
    // Plan comments on pull requests.
    pull_requests: 'write',
  };
  // Team approvers are checked with the App's installation on the organization at decision time.
  if (listedPeople.some((entry) => GITHUB_TEAM_ENTRY.test(entry))) permissions.members = 'read';
  // Email approvers who sign in with GitHub are matched against the addresses GitHub verified for them.
  if (listedPeople.some((entry) => EMAIL.test(entry))) permissions.email_addresses = 'read';
  return permissions;
}

export function appManifest(inputs: ManifestInputs): AppManifest {
  const base = (url: string) => url.replace(/\/+$/, '');
  return {
    name: inputs.name.slice(0, MAX_APP_NAME),
    url: base(inputs.approvalsBaseUrl),
    description: 'tfgate: plans every pull request and applies approved plans, environment by environment',
    hook_attributes: { url: `${base(inputs.webhookBaseUrl)}${WEBHOOK_PATH}`, active: true },
    redirect_url: `${base(inputs.setupBaseUrl)}${SETUP_CALLBACK_PATH}`,
    callback_urls: [`${base(inputs.approvalsBaseUrl)}${SIGN_IN_CALLBACK_PATH}`],
    public: false,
    default_permissions: appPermissions(inputs.listedPeople),
    // What lambdas/webhook/route.ts acts on (ping needs no subscription).
    default_events: ['push', 'pull_request'],
    request_oauth_on_install: false,
  };
}
