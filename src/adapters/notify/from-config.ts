import { EMAIL } from '../../config/patterns.js';
import type { TfgateConfig } from '../../config/load.js';
import type { Notifier } from '../../domain/ports.js';
import { SlackNotifier } from './slack.js';
import { createSmtpNotifier } from './smtp.js';

/** Every approver named by address in the configuration: who hears about drift and failed runs by mail. */
export function allApprovers(config: TfgateConfig): string[] {
  const all = config.repositories.flatMap((repo) => repo.environments.flatMap((env) => env.approval?.approvers ?? []));
  return [...new Set(all.map((who) => who.toLowerCase()).filter((who) => EMAIL.test(who)))];
}

/** The notifiers `tfgate local` adds beside the console: Slack with a webhook URL, mail with an SMTP server. */
export function localNotifiers(config: TfgateConfig): Notifier[] {
  const notifiers: Notifier[] = [];
  const { slack, email } = config.notifications;
  if (slack) notifiers.push(new SlackNotifier({ webhookUrl: slack.webhookUrl }));
  if (email?.smtp)
    notifiers.push(createSmtpNotifier(email.smtp, { from: email.from, noticeRecipients: allApprovers(config) }));
  return notifiers;
}
