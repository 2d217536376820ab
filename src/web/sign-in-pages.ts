import { layout } from './pages.js';
import { escapeHtml } from '../adapters/notify/escape.js';

/** The sign-in pages: no scripts, every value escaped, forms posting to tfgate itself. */

export function signInPage(options: { next: string; github: boolean; email: boolean; message?: string }): string {
  const next = escapeHtml(options.next);
  const github = options.github
    ? `<p><a class="button" id="github-sign-in" ` +
      `href="/auth/github?next=${encodeURIComponent(options.next)}"><button type="button">Sign in with ` +
      `GitHub</button></a></p>`
    : '';
  const email = options.email
    ? `<form method="post" action="/auth/email"><input type="hidden" name="next" value="${next}">
<p><label>Or get a one-time sign-in link by email: ` +
      '<input type="email" name="email" required maxlength="320" size="32"></label>\n' +
      '<button type="submit" id="email-sign-in">Send the link</button></p></form>'
    : '';
  const none =
    !options.github && !options.email
      ? '<p class="notice bad">No way to sign in is set up (see the README: GitHub sign-in or email links).</p>'
      : '';
  const message = options.message ? `<p class="notice" id="sign-in-message">${escapeHtml(options.message)}</p>` : '';
  return layout(
    'Sign in to tfgate',
    `<h1>Sign in to tfgate</h1>${message}
<p>Runs, plans and approvals are shown only to approvers and viewers named in tfgate.yaml.</p>${github}${email}${none}`,
  );
}

export function emailSentPage(): string {
  return layout(
    'Check your mail',
    `<h1>Check your mail</h1><p class="notice" id="sign-in-message">If this address may use tfgate, a sign-in ` +
      `link is on its way to it. The link works once, within 15 minutes.</p>`,
  );
}

export function emailConfirmPage(token: string, email: string): string {
  return layout(
    'Sign in to tfgate',
    `<h1>Sign in as ${escapeHtml(email)}</h1><form method="post" action="/auth/email/confirm">` +
      `<input type="hidden" name="token" value="${escapeHtml(token)}">
<div class="buttons"><button class="approve" type="submit" id="confirm-sign-in">Sign in</button></div></form>
<p>Opening this link signed nothing in: the button does, once.</p>`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1><p class="notice bad" id="sign-in-message">${escapeHtml(message)}</p><p><a ` +
      `href="/auth/sign-in">Sign in</a></p>`,
  );
}

/** GET /auth/sign-out: a button (a GET never changes anything); the POST ends the session everywhere. */
export function signOutPage(): string {
  return layout(
    'Sign out of tfgate',
    `<h1>Sign out of tfgate</h1><form method="post" action="/auth/sign-out">
<div class="buttons"><button type="submit" id="sign-out">Sign out</button></div></form>
<p>Signing out ends this session on the server too: a copy of its cookie stops working at once.</p>`,
  );
}

export function tooManyLinksPage(minutes: number): string {
  return layout(
    'Too many sign-in links',
    `<h1>Too many sign-in links</h1><p class="notice bad" id="sign-in-message">Too many sign-in links were asked ` +
      `for from here or for this address. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}, or use a ` +
      `link already sent.</p>`,
  );
}
