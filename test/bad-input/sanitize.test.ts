import { describe, expect, it } from 'vitest';
import { stripTerminalEscapes } from '../../src/domain/sanitize.js';
import { stripTerminalEscapes as fromBuildRunner } from '../../src/build-runner/text.js';
import { oneLine, stripTerminalEscapes as fromNotify } from '../../src/adapters/notify/escape.js';
import { runPage } from '../../src/web/pages.js';

/**
 * One sanitiser for one security job. The build runner (terraform output it stores) and the pages,
 * mails and comments (data they show) each had their own with different regexes; both callers' cases
 * hold for the one that is left, and each caller reaches that same function.
 */

describe('the one terminal-escape sanitiser', () => {
  it('is the function both old callers reach', () => {
    expect(fromBuildRunner).toBe(stripTerminalEscapes);
    expect(fromNotify).toBe(stripTerminalEscapes);
  });

  it('build-runner cases: colours, CRLF, titles, hyperlinks, C1 CSI and stray controls go, the text stays', () => {
    const text =
      '\u001b[1m\u001b[31mError:\u001b[0m ' +
      'bad\r\n\u001b]0;title\u0007\u001b]8;;https://x\u001b\\link\u001b]8;;\u001b\\ ' +
      '\u001b[2Kdone\u0007\u0008\tok\u009b31m!\n';
    expect(stripTerminalEscapes(text)).toBe('Error: bad\nlink done\tok!\n');
    expect(stripTerminalEscapes('Plan: 1 to add — ✓ ünïcode\n')).toBe('Plan: 1 to add — ✓ ünïcode\n');
  });

  it('notify cases: a reason or a commit message cannot retitle a terminal, clear a screen or hide text', () => {
    expect(stripTerminalEscapes('approved\u001b]0;pwned\u0007 ok')).toBe('approved ok');
    expect(stripTerminalEscapes('fix\u001b[2J\u001b[Hthing')).toBe('fixthing');
    expect(stripTerminalEscapes('a\u001bPsecret\u001b\\b')).not.toMatch(/[\u001b\u0000-\u0008]/);
    expect(stripTerminalEscapes('line one\rline two')).toBe('line oneline two');
    expect(oneLine('subject\r\n\u001b[31mred\u001b[0m\tend', 40)).toBe('subject red end');
  });

  it('the stricter cases the notify copy let through: an unterminated OSC and a lone ESC', () => {
    // The old notify regex removed only "ESC ]" and kept the title/hyperlink payload after it.
    expect(stripTerminalEscapes('ok\u001b]8;;https://evil.example/\u0000')).toBe('ok');
    expect(stripTerminalEscapes('end\u001b')).toBe('end');
    expect(stripTerminalEscapes('a\u001b(0b')).toBe('ab');
  });

  it('a run page shows an approval reason without its escapes', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const html = runPage({
      id: 'run-1',
      repository: 'acme/infra',
      sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
      trigger: 'push',
      mode: 'deploy',
      status: 'failed',
      createdAt: at,
      updatedAt: at,
      sequence: 1,
      executionName: 'gh-1',
      error: 'boom\u001b]0;title\u0007 done',
      stages: [
        {
          environment: 'ops',
          status: 'rejected',
          transitions: [],
          approval: { status: 'rejected', by: 'bob', reason: 'no\u001b[8m hidden' },
        },
      ],
    } as never);
    expect(html).not.toMatch(/\u001b/);
    expect(html).toContain('boom done');
  });
});
