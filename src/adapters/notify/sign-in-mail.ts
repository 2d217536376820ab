import type { SignInMailer } from '../../auth/sign-in.js';
import type { TfgateConfig } from '../../config/load.js';
import type { EmailMessage, EmailSender } from './approval-email.js';
import { SmtpEmailSender } from './smtp.js';

/**
 * The one-time sign-in link, mailed to the address that asked for it and to no one else: SES in AWS,
 * SMTP locally when tfgate.yaml names a server, otherwise printed on the `tfgate local` console
 * (the person at that terminal runs tfgate and could read the data directory anyway).
 */

export function renderSignInMail(to: string, link: string, from: string): EmailMessage {
  return {
    from,
    to,
    subject: '[tfgate] Your sign-in link',
    text:
      `Sign in to tfgate with this link. It works once, within 15 minutes:\n\n${link}\n\nIf you did not ask ` +
      `for it, ignore this mail.\n`,
    html:
      `<!doctype html><html><head><meta charset="utf-8"></head><body ` +
      `style="font-family:system-ui,sans-serif"><p>Sign in to tfgate with this link. It works once, within 15 ` +
      `minutes.</p><p><a href="${link.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">Sign in to ` +
      `tfgate</a></p><p style="color:#57606a">If you did not ask for it, ignore this mail.</p></body></html>`,
  };
}

export function mailSignInLinks(sender: EmailSender, from: string): SignInMailer {
  return { sendSignInLink: (to, link) => sender.send(renderSignInMail(to, link, from)) };
}

export function localSignInMailer(config: TfgateConfig, print: (line: string) => void): SignInMailer {
  const email = config.notifications.email;
  if (email?.smtp) return mailSignInLinks(new SmtpEmailSender(email.smtp), email.from);
  return {
    async sendSignInLink(to, link) {
      print(`sign-in link for ${to} (works once, for 15 minutes): ${link}`);
    },
  };
}
