import { stripTerminalEscapes } from '../../domain/sanitize.js';

/**
 * Escaping for everything tfgate renders from data it does not control: commit messages, author
 * names, terraform output. Pages, emails and Slack messages all go through these.
 */

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// The one sanitiser (the stricter of the two this project had) lives with the domain.
export { stripTerminalEscapes };

/**
 * Slack mrkdwn gives `<…>` meaning (links, `<!channel>` pings) and `&` starts an entity: a commit
 * message must not ping a channel or forge a link.
 */
export function escapeSlack(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** One line, no control characters, at most `max` characters (email subjects, Slack headers). */
export function oneLine(value: string, max: number): string {
  const flat = stripTerminalEscapes(value.replace(/[\r\n\t]+/g, ' ')).trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
