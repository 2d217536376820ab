import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { locateTerraform } from '../../src/terraform-locator.js';
import { renderSummaryLine } from '../../src/domain/plan-summary.js';
import { isTerminalRun, type Run } from '../../src/domain/run.js';
import type { ApprovalRequest } from '../../src/domain/ports.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { suggestedApprover } from '../../src/local-mode/progress.js';
import { startLocalStack, type LocalStack } from '../../src/local-mode/start-stack.js';
import {
  DEMO_CHANGE,
  DEMO_CHANGE_DESCRIPTION,
  STARTER_APPROVER,
  STARTER_REPOSITORY,
} from '../../src/local-mode/starter-repository.js';
import { print, printBanner, printStamped, serverInfoFile, showProgress, terraformVersionNote } from './local.js';

export interface DemoOptions {
  autoApprove?: boolean;
  terraform?: string;
  port: number;
  data?: string;
}

/** Sign-in links the console shows; the demo, playing the approver, reads its own from there. */
class ConsoleLinks {
  private readonly waiting: Array<{ to: string; resolve: (link: string) => void }> = [];

  async sendSignInLink(to: string, link: string): Promise<void> {
    print(`  sign-in link for ${to} (works once, for 15 minutes): ${link}`);
    const index = this.waiting.findIndex((w) => w.to === to);
    if (index >= 0) this.waiting.splice(index, 1)[0]!.resolve(link);
  }

  next(to: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no sign-in link for ${to} within 30 s`)), 30_000);
      this.waiting.push({
        to,
        resolve: (link) => {
          clearTimeout(timer);
          resolve(link);
        },
      });
    });
  }
}

function cookieOf(response: Response): string {
  const value = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('tfgate_session='));
  if (!value) throw new Error(`signing in gave no session (${response.status})`);
  return value;
}

/**
 * Signs in as the configured approver the way a person's browser does (ask for an emailed link, open
 * it, press "Sign in"), then approves on the approval page: GET the page, POST its form.
 */
async function approveThroughPage(link: string, links: ConsoleLinks): Promise<void> {
  const origin = new URL(link).origin;
  const linkSent = links.next(STARTER_APPROVER);
  const asked = await fetch(`${origin}/auth/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: STARTER_APPROVER, next: new URL(link).pathname }).toString(),
  });
  if (asked.status !== 200) throw new Error(`asking for a sign-in link answered ${asked.status}`);
  const signInLink = await linkSent;
  const confirmPage = await (await fetch(signInLink)).text();
  const token = /name="token" value="([^"]+)"/.exec(confirmPage)?.[1];
  if (!token) throw new Error('the sign-in link opened no sign-in form');
  const signedIn = await fetch(`${origin}/auth/email/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: token.replace(/&amp;/g, '&') }).toString(),
    redirect: 'manual',
  });
  const cookie = cookieOf(signedIn);
  print(`  auto-approve: signed in as ${STARTER_APPROVER} with the emailed link`);
  const page = await fetch(link, { headers: { accept: 'text/html', cookie } });
  const html = await page.text();
  const formToken = /name="form_token" value="([^"]+)"/.exec(html)?.[1];
  if (page.status !== 200 || !formToken) throw new Error(`the approval page answered ${page.status} without a form`);
  const answer = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ decision: 'approve', form_token: formToken.replace(/&amp;/g, '&') }).toString(),
  });
  const text = await answer.text();
  const message = /id="decision-result">([^<]*)</.exec(text)?.[1] ?? `status ${answer.status}`;
  print(`  auto-approve: POST ${new URL(link).pathname} → ${answer.status}: ${message}`);
  if (answer.status !== 200) throw new Error(`the approval was refused (${answer.status})`);
}

async function stateResources(stack: LocalStack, environment: string): Promise<string[]> {
  const file = path.join(
    stack.dataDir,
    'state',
    STARTER_REPOSITORY.replace('/', '__'),
    'terraform.tfstate.d',
    environment,
    'terraform.tfstate',
  );
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as { resources?: Array<{ type: string; name: string }> };
    return (state.resources ?? []).map((r) => `${r.type}.${r.name}`);
  } catch {
    return [];
  }
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const terraform = await locateTerraform(options.terraform !== undefined ? { flag: options.terraform } : {});
  const dataDir = options.data ?? (await mkdtemp(path.join(os.tmpdir(), 'tfgate-demo-')));
  // The demo always uses its own starter configuration, whatever tfgate.yaml the current directory has.
  const links = new ConsoleLinks();
  const stack = await startLocalStack({
    dataDir,
    cwd: dataDir,
    port: options.port,
    terraform: terraform.path,
    print: printStamped,
    signIn: { mail: links },
  });
  await writeFile(serverInfoFile(stack.dataDir), JSON.stringify({ url: stack.url, pid: process.pid }));
  printBanner(
    stack,
    terraform,
    'generated',
    await terraformVersionNote(terraform.path, stack.config.terraform.version),
  );
  const stopProgress = showProgress(stack);
  try {
    const remote = stack.remotes.find((r) => r.repository === STARTER_REPOSITORY);
    if (!remote) throw new Error('the demo needs the starter repository');

    let approvals = 0;
    const approvalsSeen: Promise<void>[] = [];
    const onApproval = (request: ApprovalRequest) => {
      approvals += 1;
      if (!options.autoApprove) {
        // The demo's data directory is temporary: the command must name it (and the approver it signs as).
        const approver = suggestedApprover(request.approval);
        print(
          `  (waiting for you: open the link above, or in another terminal: npx tfgate approve ` +
            `${request.approval.id} --data ${stack.dataDir}${approver ? ` --as ${approver}` : ''}; Ctrl-C ends ` +
            `the demo)`,
        );
        return;
      }
      approvalsSeen.push(
        approveThroughPage(request.url, links).catch(
          (error: Error) => void print(`  auto-approve failed: ${error.message}`),
        ),
      );
    };
    stack.runs.events.on('approval', onApproval);

    print(`\nPushing a change to ${STARTER_REPOSITORY} (${remote.branch}): ${DEMO_CHANGE_DESCRIPTION}.`);
    const sha = await commitAndPush(remote.remote, {
      files: DEMO_CHANGE,
      message: `Upgrade the clusters: ${DEMO_CHANGE_DESCRIPTION}`,
      branch: remote.branch,
    });

    const run = await new Promise<Run>((resolve, reject) => {
      // Unattended (--auto-approve) the demo must end by itself; a person deciding takes as long as they take.
      const timer = options.autoApprove
        ? setTimeout(() => reject(new Error('the demo run did not finish within 10 minutes')), 600_000)
        : undefined;
      let runId: string | undefined;
      const check = async () => {
        runId ??= (await stack.runs.list({ limit: 20 })).find((r) => r.sha === sha)?.id;
        const current = runId ? await stack.runs.get(runId) : undefined;
        if (current && isTerminalRun(current.status)) {
          clearTimeout(timer);
          stack.runs.events.off('change', listener);
          resolve(current);
        }
      };
      const listener = () => void check().catch(reject);
      stack.runs.events.on('change', listener);
      // The run may have been recorded before we listened.
      void check().catch(reject);
    });
    await Promise.all(approvalsSeen);

    print(`\nRun ${run.id} finished: ${run.status}${run.error ? ` (${run.error})` : ''}`);
    for (const stage of run.stages) {
      const plan = stage.plan ? renderSummaryLine(stage.plan) : '';
      const approval = stage.approval
        ? `, approval ${stage.approval.status}${stage.approval.by ? ` by ${stage.approval.by}` : ''}`
        : '';
      print(`  ${stage.environment.padEnd(6)} ${stage.status.padEnd(12)} ${plan}${approval}`);
      print(`         state: ${(await stateResources(stack, stage.environment)).join(', ') || '(empty)'}`);
    }
    print(`  approvals asked: ${approvals}`);
    print(`  data directory: ${stack.dataDir} (see ${stack.url}/runs/${run.id} while a stack runs there)`);
    return run.status === 'succeeded' ? 0 : 1;
  } finally {
    stopProgress();
    await stack.close();
  }
}
