/**
 * The webhook function answering, and verifying signatures: a `ping` delivery without a signature must be
 * refused (401), and the same delivery signed with the stored secret must be answered 200. A ping starts
 * nothing and writes nothing (the handler answers it before any store is touched), so both are free of
 * side effects; together they prove the function runs, reads its secret, and holds the one stored.
 */
import { randomUUID } from 'node:crypto';
import { Webhooks } from '@octokit/webhooks';
import type { DoctorContext } from './context.js';
import { type CheckResult, fail, pass } from './result.js';

const UNSIGNED_ID = 'webhook.unsigned';
const SIGNED_ID = 'webhook.signed';

async function post(
  ctx: DoctorContext,
  url: string,
  body: string,
  signature?: string,
): Promise<{ status: number } | { error: string }> {
  try {
    const response = await ctx.fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/tfgate-doctor',
        'x-github-event': 'ping',
        'x-github-delivery': `tfgate-doctor-${randomUUID()}`,
        ...(signature ? { 'x-hub-signature-256': signature } : {}),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(ctx.httpTimeoutMs),
    });
    await response.arrayBuffer();
    return { status: response.status };
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { error: `no answer within ${ctx.httpTimeoutMs} ms` };
    const cause = (error as { cause?: { code?: string } }).cause;
    return { error: `could not reach it: ${cause?.code ?? (error as Error).message}` };
  }
}

export async function checkWebhook(
  ctx: DoctorContext,
  webhookUrl: string,
  secret: string | undefined,
  logsHint: string,
): Promise<CheckResult[]> {
  const body = JSON.stringify({ zen: 'tfgate doctor', hook_id: 0 });
  const results: CheckResult[] = [];

  const unsigned = await post(ctx, webhookUrl, body);
  const unsignedTitle = 'webhook refuses an unsigned delivery';
  if ('error' in unsigned) {
    results.push(fail(UNSIGNED_ID, unsignedTitle, `${webhookUrl}: ${unsigned.error}`, [logsHint]));
  } else if (unsigned.status === 401) {
    results.push(pass(UNSIGNED_ID, unsignedTitle, `${webhookUrl} answered 401`));
  } else if (unsigned.status >= 200 && unsigned.status < 300) {
    results.push(
      fail(UNSIGNED_ID, unsignedTitle, `${webhookUrl} ACCEPTED a delivery without a signature (${unsigned.status})`, [
        "anyone could start runs: the webhook function is not tfgate's, or was changed; redeploy with npx cdk deploy",
      ]),
    );
  } else {
    results.push(
      fail(UNSIGNED_ID, unsignedTitle, `${webhookUrl} answered ${unsigned.status}, not 401`, [
        unsigned.status === 403
          ? 'the function URL refuses callers: its auth type must be NONE (redeploy with npx cdk deploy)'
          : logsHint,
      ]),
    );
  }

  const signedTitle = 'webhook accepts a ping signed with the stored secret';
  if (!secret) {
    results.push(fail(SIGNED_ID, signedTitle, 'not checked: the webhook secret is not usable', []));
    return results;
  }
  const signature = await new Webhooks({ secret }).sign(body);
  const signed = await post(ctx, webhookUrl, body, signature);
  if ('error' in signed) {
    results.push(fail(SIGNED_ID, signedTitle, `${webhookUrl}: ${signed.error}`, [logsHint]));
  } else if (signed.status === 200) {
    results.push(pass(SIGNED_ID, signedTitle, 'answered 200 (pong)'));
  } else if (signed.status === 401) {
    results.push(
      fail(SIGNED_ID, signedTitle, 'refused (401): the function does not hold the secret that is stored', [
        'a secret changed in the last few minutes is picked up within five: run the doctor again shortly',
        logsHint,
      ]),
    );
  } else {
    results.push(fail(SIGNED_ID, signedTitle, `answered ${signed.status}`, [logsHint]));
  }
  return results;
}
