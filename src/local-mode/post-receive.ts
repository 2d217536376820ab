import { createHmac } from 'node:crypto';
import path from 'node:path';

/**
 * What tfgate local shares with the bare repositories' post-receive hook (bin/post-receive.js, plain
 * JavaScript so that `git push` waits for no TypeScript loader): where the hook finds the webhook and its
 * secret, who the pusher is, and the signature (the hook computes the same HMAC with Node's crypto).
 */

export interface HookTarget {
  webhookUrl: string;
  secret: string;
}

/** Written by `tfgate local` at start (mode 0600, beside the other secrets) and read by the hook (same path). */
export function hookTargetFile(dataDir: string): string {
  return path.join(dataDir, 'secrets', 'hook.json');
}

/** Who pushes into the data directory's repositories: the user of this machine (the reconciler says the same). */
export function localPusher(env: NodeJS.ProcessEnv = process.env): { name: string; email: string } {
  const name = env.USER || env.LOGNAME || 'local';
  return { name, email: `${name}@localhost` };
}

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
