import { layout } from '../../src/web/pages.js';
import { escapeHtml } from '../../src/adapters/notify/escape.js';
import type { AppManifest } from './manifest.js';

/** The setup pages: no scripts, every value escaped; the one outside form posts to GitHub. */

export interface ManifestPageModel {
  action: string;
  manifest: AppManifest;
  token: string;
  organization?: string;
  webOrigin: string;
}

export function manifestPage(options: ManifestPageModel): string {
  const where = options.organization
    ? `the organization <strong>${escapeHtml(options.organization)}</strong>`
    : 'your own GitHub account';
  const permissions = Object.entries(options.manifest.default_permissions)
    .map(([name, level]) => `${escapeHtml(name)} ${escapeHtml(level)}`)
    .join(', ');
  const events = options.manifest.default_events.map(escapeHtml).join(', ');
  return layout(
    'Connect GitHub',
    `<h1>Connect tfgate to GitHub</h1>
<p>This creates a private GitHub App for this tfgate on ${where} at ${escapeHtml(options.webOrigin)}, with the
webhook, the sign-in callback and only these permissions: ${permissions}; events: ${events}.</p>
<form method="post" action="${escapeHtml(options.action)}" id="manifest-form">
<input type="hidden" name="manifest" id="manifest" value="${escapeHtml(JSON.stringify(options.manifest))}">
<div class="buttons"><button class="approve" type="submit" id="create-app">Create the GitHub App</button></div></form>
<form method="get" action="/setup" id="organization-form">
<input type="hidden" name="token" value="${escapeHtml(options.token)}">
<p><label>Create it for an organization instead:
<input name="organization" maxlength="39" size="24" value="${escapeHtml(options.organization ?? '')}"></label>
<button type="submit">Use this organization</button></p></form>
<p>The setup link works until the App's credentials are stored; after that it is used up.</p>`,
  );
}

export function connectedPage(options: { appName: string; htmlUrl: string; installUrl: string }): string {
  const app = `<a href="${escapeHtml(options.htmlUrl)}">${escapeHtml(options.appName)}</a>`;
  const install = `<a class="button" id="install-app" href="${escapeHtml(options.installUrl)}">install the App</a>`;
  return layout(
    'GitHub connected',
    `<h1>GitHub connected</h1>
<p class="notice ok" id="setup-message">The GitHub App ${app} was created and its credentials (App id and
private key, webhook secret, sign-in client id and secret) are stored in this stack's secrets.</p>
<p>Last step: ${install} on the repositories named in tfgate.yaml.</p>
<p>This setup link is now used up.</p>`,
  );
}

export function setupMessagePage(title: string, message: string): string {
  const body = `<h1>${escapeHtml(title)}</h1><p class="notice bad" id="setup-message">${escapeHtml(message)}</p>`;
  return layout(title, body);
}
