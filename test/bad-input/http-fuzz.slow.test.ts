import { createHmac } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { Prng } from './prng.js';

/**
 * Random and malformed requests on every route, sent over raw sockets so nothing (a client library's
 * own validation) cleans them up first. Bounded and seeded: the same requests on every run.
 * Whatever arrives, the answer is never a 5xx, the server stays up, and no log line echoes a secret.
 */

const SEED = 20_241_124;
const REQUESTS = 360;
const CONCURRENCY = 8;
const SECRET = 'fuzz-webhook-secret-3b9e1f0c7a';
const SIGNATURE_MARKER = 'feedfacecafe';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ webhookSecret: SECRET });
});
afterAll(async () => {
  await stack?.cleanup();
});

interface RawRequest {
  label: string;
  /**
   * The declared body is longer than what is sent (or chunked, with no last chunk): the server rightly waits for the
   * rest.
   */
  incomplete?: boolean;
  head: Buffer;
  body: Buffer;
}

interface RawAnswer {
  status: number;
  text: string;
}

/** One request on its own connection; resolves with the status line's code (0: closed without one). */
function send(url: string, request: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : 0, text });
    };
    // A request whose declared body never fully arrives is left waiting by the server (that is
    // HTTP); the client gives up on it, and such requests are counted apart below.
    socket.setTimeout(8_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.on('connect', () => {
      // No half-close: node's server aborts a request whose client sent FIN (httpAllowHalfOpen is off),
      // which would hide the answer. `Connection: close` makes the server close when it has answered.
      socket.write(Buffer.concat([request.head, request.body]));
    });
  });
}

const ROUTES = [
  '/webhook',
  '/approvals/0123456789abcdef0123456789abcdef',
  '/approvals/nothex',
  '/approvals/',
  '/runs',
  '/runs/',
  '/runs/some-run',
  '/runs/../../etc/passwd',
  '/healthz',
  '/local/unlock',
  '/',
  '/nope',
  '/webhook/extra',
  '/%2e%2e/%2e%2e/etc/passwd',
  '//runs',
  '/runs/%00',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'FOO', 'CONNECT'];
const CONTENT_TYPES = [
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/json; charset=latin1',
  'application/json; charset=utf-8',
  'multipart/form-data; boundary=x',
  '',
  '\u00ff\u00fe',
  'application/json;;;==;',
];
const EVENTS = ['push', 'pull_request', 'ping', 'issues', 'PUSH', 'push\u0000', '../push', '$(id)', 'a'.repeat(80), ''];

function junkString(prng: Prng, max: number): string {
  const alphabets = [
    'abc',
    '<script>"\'&',
    '\u0000\u0001\u001b[31m\u0007',
    '$(){}`;|&',
    '../\\',
    '\u202e\u200b\ufeff',
    '🦄é',
  ];
  let out = '';
  const length = prng.int(max);
  for (let i = 0; i < length; i++) out += prng.pick(Array.from(prng.pick(alphabets)));
  return out;
}

function junkValue(prng: Prng, depth: number): unknown {
  switch (prng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return junkString(prng, 40);
    case 1:
      return prng.int(2 ** 31) * (prng.chance(0.5) ? -1 : 1);
    case 2:
      return prng.chance(0.5);
    case 3:
      return null;
    case 4:
      return prng.pick([1e308, -0, 0.5, Number.MAX_SAFE_INTEGER + 2]);
    case 5:
      return Array.from({ length: prng.int(4) }, () => junkValue(prng, depth + 1));
    default: {
      const keys = [
        'ref',
        'after',
        'repository',
        'full_name',
        'clone_url',
        'pusher',
        'name',
        'email',
        'head_commit',
        'pull_request',
        'head',
        'sha',
        'number',
        'action',
        'sender',
        'login',
        'zen',
        '__proto__',
        'constructor',
        junkString(prng, 10),
      ];
      const object: Record<string, unknown> = {};
      for (let i = prng.int(5); i > 0; i--) object[prng.pick(keys)] = junkValue(prng, depth + 1);
      return object;
    }
  }
}

/** Payloads shaped like GitHub's, with one or more fields wrong. */
function almostValidPayload(prng: Prng): unknown {
  const payload: Record<string, unknown> = {
    ref: prng.pick([
      'refs/heads/main',
      'refs/heads/main\u0000',
      'refs/tags/v1',
      'main',
      '',
      `refs/heads/${'x'.repeat(2000)}`,
      42,
    ]),
    after: prng.pick(['0'.repeat(40), 'a'.repeat(40), 'zz', null, 'A'.repeat(40), []]),
    repository: prng.pick([
      { full_name: 'acme/infrastructure', clone_url: 'https://example.invalid/x.git' },
      { full_name: 'acme/infrastructure' },
      { full_name: 5 },
      'acme/infrastructure',
      null,
      { full_name: 'acme/infrastructure', clone_url: '--upload-pack=touch /tmp/x' },
    ]),
    pusher: prng.pick([{ name: 'alice', email: 'alice@example.com' }, { name: '' }, null, { name: 'a\nb' }]),
    head_commit: prng.pick([null, { message: 'm', author: { username: 'not a login!' } }, { message: 7 }, undefined]),
    pull_request: prng.pick([{ head: { sha: 'a'.repeat(40) } }, { head: null }, undefined]),
    number: prng.pick([1, -1, 0, 1.5, '1', 2 ** 60]),
    action: prng.pick(['opened', 'closed', 'OPENED', '', 'a'.repeat(100)]),
    sender: prng.pick([{ login: 'alice' }, { login: '' }, {}]),
  };
  for (const key of Object.keys(payload)) if (prng.chance(0.15)) payload[key] = junkValue(prng, 2);
  return payload;
}

function body(prng: Prng, contentType: string): Buffer {
  switch (prng.int(11)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return prng.bytes(prng.int(2048));
    case 2:
      // invalid UTF-8
      return Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0x7b, 0x7d]);
    case 3:
      return Buffer.from(JSON.stringify(almostValidPayload(prng)).slice(0, 20 + prng.int(60))); // truncated JSON
    case 4:
      return Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`); // deep nesting
    case 5:
      return Buffer.from(`{"ref":"refs/heads/main\u0000","a":"\u0000\u0000"}\u0000`);
    case 6:
      return Buffer.from(`payload=${encodeURIComponent(JSON.stringify(almostValidPayload(prng)))}&payload=%zz%`);
    case 7:
      return Buffer.from(JSON.stringify({ deep: JSON.parse(`${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`) }));
    case 8:
      return Buffer.from(
        `decision=${prng.pick(['approve', 'reject', 'maybe', ''])}&form_token=${junkString(prng, 60)}` +
          `&reason=${encodeURIComponent(junkString(prng, 600))}`,
      );
    case 9:
      return Buffer.from(`{"repository":"${'x'.repeat(200_000)}"}`);
    default:
      return Buffer.from(
        contentType.includes('form')
          ? `payload=${encodeURIComponent(JSON.stringify(junkValue(prng, 0)))}`
          : (JSON.stringify(junkValue(prng, 0)) ?? 'null'),
      );
  }
}

function signature(payload: Buffer): string {
  return `sha256=${createHmac('sha256', SECRET).update(payload).digest('hex')}`;
}

function junkQuery(prng: Prng): string {
  if (prng.chance(0.5)) return '';
  const parts = [
    '%',
    '%zz',
    '%00',
    'limit=-1',
    'limit=99999999999',
    'limit=abc',
    `as=${'%ff'.repeat(20)}`,
    'as=alice%40example.com.deadbeef',
    `x=${'a'.repeat(3000)}`,
    '&&&=&=',
    'a[b][c]=1',
    '__proto__[x]=1',
  ];
  return `?${Array.from({ length: 1 + prng.int(4) }, () => prng.pick(parts)).join('&')}`;
}

function buildRequest(prng: Prng, index: number): RawRequest {
  const path = prng.pick(ROUTES);
  const method = path === '/webhook' && prng.chance(0.7) ? 'POST' : prng.pick(METHODS);
  // Most webhook posts carry GitHub's headers right, so their bodies get as far as the signature
  // check, the body parser and the event router; the rest have junk headers too.
  const wellFormed = path === '/webhook' && method === 'POST' && prng.chance(0.7);
  const contentType = wellFormed
    ? prng.pick(['application/json', 'application/x-www-form-urlencoded'])
    : prng.pick(CONTENT_TYPES);
  let payload = body(prng, contentType);
  const headers: Array<[string, string | Buffer]> = [
    ['Host', 'localhost'],
    ['Connection', 'close'],
  ];
  if (contentType) headers.push(['Content-Type', contentType]);
  if (wellFormed || prng.chance(0.7))
    headers.push([
      'X-GitHub-Event',
      wellFormed ? prng.pick(['push', 'pull_request', 'ping', 'issues']) : prng.pick(EVENTS),
    ]);
  if (wellFormed || prng.chance(0.7))
    headers.push([
      'X-GitHub-Delivery',
      wellFormed
        ? `fuzz-${index}`
        : prng.pick([`fuzz-${index}`, '', '../../x', 'a b', 'x'.repeat(300), `\u00e9${index}`]),
    ]);
  // Half of those are signed with the real secret; the rest carry junk or a wrong signature.
  const signed = prng.chance(wellFormed ? 0.5 : 0.2);
  if (signed) {
    if (prng.chance(0.6)) {
      const json = JSON.stringify(almostValidPayload(prng));
      payload = Buffer.from(contentType.includes('form') ? `payload=${encodeURIComponent(json)}` : json);
    }
    headers.push(['X-Hub-Signature-256', signature(payload)]);
  } else if (prng.chance(0.6)) {
    headers.push([
      'X-Hub-Signature-256',
      prng.pick([
        `sha256=${SIGNATURE_MARKER}${'0'.repeat(52)}`,
        'sha256=',
        'sha1=abc',
        `sha256=${SIGNATURE_MARKER}`,
        '',
      ]),
    ]);
  }
  if (prng.chance(0.3)) headers.push(['Accept', prng.pick(['application/json', 'text/html', '*/*', '\u0000'])]);
  if (prng.chance(0.2)) headers.push(['Sec-Fetch-Site', prng.pick(['cross-site', 'same-origin', 'none', 'junk'])]);
  if (prng.chance(0.05)) headers.push(['X-Huge', 'h'.repeat(20_000 + prng.int(80_000))]);
  if (prng.chance(0.05))
    headers.push([
      'X-Binary',
      prng
        .bytes(40)
        .toString('latin1')
        .replace(/[\r\n]/g, 'x'),
    ]);
  const declared = prng.chance(0.1) ? prng.pick([0, 5, 999_999_999, -1]) : payload.length;
  const chunked = prng.chance(0.1);
  if (chunked) headers.push(['Transfer-Encoding', 'chunked']);
  else headers.push(['Content-Length', String(declared)]);
  const target = `${path}${junkQuery(prng)}`;
  const lines = [
    `${method} ${target} HTTP/1.1`,
    ...headers.map(([name, value]) => `${name}: ${typeof value === 'string' ? value : value.toString('latin1')}`),
  ];
  return {
    label: `#${index} ${method} ${target.slice(0, 60)}`,
    incomplete: chunked || (declared > payload.length && declared <= 25 * 1024 * 1024),
    head: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    body: payload,
  };
}

describe('random and malformed HTTP requests', () => {
  it('never get a 5xx, never take the server down, and never put a secret in a log line', async () => {
    const prng = new Prng(SEED);
    const requests = Array.from({ length: REQUESTS }, (_, index) => buildRequest(prng, index));
    // A few requests a generator cannot produce by chance.
    requests.push(
      {
        label: 'invalid UTF-8 in the path',
        head: Buffer.concat([
          Buffer.from('GET /runs/'),
          Buffer.from([0xff, 0xfe, 0xc3]),
          Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
        ]),
        body: Buffer.alloc(0),
      },
      {
        label: 'NUL in a header',
        head: Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n', 'latin1'),
        body: Buffer.alloc(0),
      },
      {
        label: 'headers over the limit',
        head: Buffer.from(
          `GET /runs HTTP/1.1\r\nHost: x\r\n` +
            `${Array.from({ length: 200 }, (_, i) => `X-${i}: ${'v'.repeat(900)}`).join('\r\n')}\r\n` +
            `Connection: close\r\n\r\n`,
        ),
        body: Buffer.alloc(0),
      },
      {
        label: 'not HTTP at all',
        head: Buffer.from('\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003', 'latin1'),
        body: Buffer.alloc(0),
      },
      { label: 'HTTP/0.9 style', head: Buffer.from('GET /healthz\r\n\r\n'), body: Buffer.alloc(0) },
      {
        label: 'body over 25 MiB declared',
        head: Buffer.from(
          'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ' +
            '30000000\r\nConnection: close\r\n\r\n',
        ),
        body: Buffer.from('{'),
      },
    );

    const answers: Array<{ label: string; status: number; incomplete?: boolean }> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const answer = await send(stack.url, request);
          answers.push({
            label: request.label,
            status: answer.status,
            ...(request.incomplete ? { incomplete: true } : {}),
          });
        }
      }),
    );

    expect(answers).toHaveLength(requests.length);
    const serverErrors = answers.filter((a) => a.status >= 500);
    expect(serverErrors, JSON.stringify(serverErrors)).toEqual([]);
    // Every request got an answer, except those still owing part of their body, and CONNECT, whose
    // connection node's server closes unanswered when nothing tunnels.
    const unanswered = answers.filter((a) => a.status === 0 && !a.incomplete && !a.label.includes(' CONNECT '));
    expect(unanswered, JSON.stringify(unanswered)).toEqual([]);
    // The mix really exercised the routes: refusals of every kind, and some accepted requests.
    const statuses = new Set(answers.map((a) => a.status));
    // Without a session nothing but /webhook and /healthz gets past the sign-in (303 or 401), so no 404s either.
    for (const status of [200, 303, 400, 401, 405, 413, 415])
      expect(statuses, `status ${status} seen`).toContain(status);

    const health = await fetch(`${stack.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok');

    const log = stack.lines.join('\n');
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(stack.sessionKey);
    expect(log).not.toContain(stack.localCredential);
    expect(log).not.toContain(SIGNATURE_MARKER);
    expect(log).not.toMatch(/server error|internal error/);
    // A signed payload that happens to be a valid push starts a run; nothing else may.
    for (const run of await stack.runs.list({ limit: 500 })) {
      expect([run.repository, run.ref, run.trigger]).toEqual(['acme/infrastructure', 'refs/heads/main', 'push']);
      expect(run.sha).toMatch(/^[0-9a-f]{40}$/);
    }
  }, 300_000);
});
