/**
 * Someone hears the alarms: the alarm topic has at least one confirmed subscription. An email
 * subscription stays `PendingConfirmation` until its link is followed, and until then SNS delivers
 * nothing to it.
 */
import { ListSubscriptionsByTopicCommand, type Subscription } from '@aws-sdk/client-sns';
import { accessFix, describeAwsError, isAccessDenied } from './aws-errors.js';
import type { DoctorContext } from './context.js';
import { type CheckResult, fail, pass } from './result.js';

const ID = 'alarms.subscription';
const TITLE = 'alarm topic has a confirmed subscription';

function isConfirmed(subscription: Subscription): boolean {
  return (subscription.SubscriptionArn ?? '').startsWith('arn:');
}

export async function checkAlarmSubscriptions(ctx: DoctorContext, topicArn: string): Promise<CheckResult> {
  const subscriptions: Subscription[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await ctx.clients.sns.send(
        new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
      subscriptions.push(...(page.Subscriptions ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
  } catch (error) {
    return fail(
      ID,
      TITLE,
      describeAwsError(error),
      isAccessDenied(error) ? [accessFix('sns:ListSubscriptionsByTopic')] : [],
    );
  }
  const confirmed = subscriptions.filter(isConfirmed);
  const subscribe =
    `aws sns subscribe --region ${ctx.region} --topic-arn ${topicArn} --protocol email --notification-endpoint ` +
    'you@example.com (or set notifications.alarms.email and redeploy), then follow the link SNS mails';
  if (confirmed.length > 0) {
    const protocols = [...new Set(confirmed.map((s) => s.Protocol ?? 'unknown'))].join(', ');
    return pass(ID, TITLE, `${confirmed.length} confirmed (${protocols})`);
  }
  const pending = subscriptions.filter((s) => s.SubscriptionArn === 'PendingConfirmation');
  if (pending.length > 0) {
    const endpoints = pending.map((s) => s.Endpoint ?? '?').join(', ');
    return fail(ID, TITLE, `${pending.length} waiting for confirmation (${endpoints}): alarms reach nobody yet`, [
      'follow the link in the mail SNS sent to that address (resend it by subscribing again)',
      subscribe,
    ]);
  }
  return fail(ID, TITLE, 'no subscription: alarms reach nobody', [subscribe]);
}
