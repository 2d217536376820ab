#!/usr/bin/env node
// The post-receive hook of tfgate local's bare repositories (src/local-mode/git-repos.ts writes the hook that
// runs this). For every updated ref it sends the push event GitHub would send, signed with the webhook secret,
// to the running tfgate local. `git push` waits for it, so it is plain JavaScript with Node's built-ins only: no
// TypeScript loader and none of tfgate's modules. The secret comes from a file only its owner can read (written
// by tfgate local, mode 0600), never from the command line or the environment. The receiving side checks the
// signature as it checks GitHub's.
import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

const ZERO_SHA = '0'.repeat(40);
const log = (line) => process.stderr.write(`${line}\n`);

function option(name) {
  const index = process.argv.indexOf(`--${name}`);
  const value = index > 0 ? process.argv[index + 1] : undefined;
  if (!value) {
    log(`tfgate: the post-receive hook needs --${name}`);
    process.exit(2);
  }
  return value;
}

function git(args) {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
  });
}

/** `before after ref` lines as git gives them on stdin. */
function parseRefUpdates(stdin) {
  return stdin
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 3 && /^[0-9a-f]{40}$/.test(parts[0]) && /^[0-9a-f]{40}$/.test(parts[1]))
    .map(([before, after, ref]) => ({ before, after, ref }));
}

// One git call for all the commits' fields: NUL after each field (a commit message holds no NUL), so the
// output splits into five fields per commit; git puts a newline between commits.
const FORMAT = '--format=%H%x00%an%x00%ae%x00%aI%x00%B%x00';
const FIELDS = 5;

async function commits(gitDir, args) {
  const fields = (await git(['--git-dir', gitDir, 'log', FORMAT, ...args])).split('\0');
  const list = [];
  for (let i = 0; i + FIELDS <= fields.length; i += FIELDS) {
    const [id, name, email, timestamp, message] = fields.slice(i, i + FIELDS);
    list.push({ id: id.trim(), message: message.trim(), timestamp: timestamp.trim(), author: { name, email } });
  }
  return list;
}

/** Who pushes: the user of this machine (src/local-mode/post-receive.ts's localPusher says the same). */
function localPusher(env) {
  const name = env.USER || env.LOGNAME || 'local';
  return { name, email: `${name}@localhost` };
}

async function pushPayload(gitDir, repository, update, pusher) {
  const deleted = update.after === ZERO_SHA;
  const created = update.before === ZERO_SHA;
  const [owner, name] = repository.split('/');
  let list = [];
  let head = null;
  if (!deleted) {
    const range = created ? [update.after] : [`${update.before}..${update.after}`];
    list = await commits(gitDir, ['--max-count=20', '--reverse', ...range]);
    head = list.find((c) => c.id === update.after) ?? (await commits(gitDir, ['--no-walk', update.after]))[0];
  }
  const asGitHub = (c) => ({ id: c.id, message: c.message, timestamp: c.timestamp, author: c.author });
  return {
    ref: update.ref,
    before: update.before,
    after: update.after,
    created,
    deleted,
    forced: false,
    base_ref: null,
    compare: '',
    commits: list.map((c) => ({ ...asGitHub(c), committer: c.author })),
    head_commit: head ? { ...asGitHub(head), committer: head.author } : null,
    repository: {
      id: 0,
      name,
      full_name: repository,
      owner: { login: owner, name: owner },
      clone_url: path.resolve(gitDir),
      default_branch: 'main',
    },
    pusher,
    sender: { login: pusher.name },
  };
}

function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: 10_000 },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', reject);
    request.end(body);
  });
}

async function main() {
  const dataDir = path.resolve(option('data'));
  const repository = option('repository');
  const gitDir = process.env.GIT_DIR ? path.resolve(process.env.GIT_DIR) : process.cwd();
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  let target;
  try {
    target = JSON.parse(await readFile(path.join(dataDir, 'secrets', 'hook.json'), 'utf8'));
  } catch {
    log('tfgate: tfgate local is not running; no run was started for this push.');
    return;
  }
  const pusher = localPusher(process.env);
  let failures = 0;
  for (const update of parseRefUpdates(Buffer.concat(chunks).toString('utf8'))) {
    try {
      const body = JSON.stringify(await pushPayload(gitDir, repository, update, pusher));
      const response = await post(
        target.webhookUrl,
        {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${createHmac('sha256', target.secret).update(body).digest('hex')}`,
          'user-agent': 'tfgate-local-hook',
        },
        body,
      );
      let answer = {};
      try {
        answer = JSON.parse(response.text);
      } catch {
        // Not JSON: the status says enough.
      }
      const branch = update.ref.replace('refs/heads/', '');
      if (answer.runId) log(`tfgate: run ${answer.runId} started for ${branch} at ${update.after.slice(0, 12)}`);
      else if (answer.ignored) log(`tfgate: nothing to run (${answer.ignored})`);
      else log(`tfgate: the webhook answered ${response.status}`);
      if (response.status >= 400) failures += 1;
    } catch (error) {
      failures += 1;
      log(`tfgate: could not reach ${target.webhookUrl}: ${error.message}`);
    }
  }
  // A failed delivery never refuses the push: the commits are in; the reconciler catches up.
  if (failures > 0) log('tfgate: the push is stored, but its run did not start; see the message above.');
}

await main();
