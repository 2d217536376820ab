import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import {
  EmailNotifier,
  type EmailMessage,
  type EmailNotifierOptions,
  type EmailSender,
} from '../notify/approval-email.js';

/** Approval mail through SES v2: one SendEmail per recipient, with HTML and plain-text parts. */

export class SesEmailSender implements EmailSender {
  constructor(private readonly client: SESv2Client) {}

  async send(message: EmailMessage): Promise<void> {
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: message.from,
        Destination: { ToAddresses: [message.to] },
        Content: {
          Simple: {
            Subject: { Data: message.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
          },
        },
      }),
    );
  }
}

export function createSesNotifier(client: SESv2Client, options: EmailNotifierOptions): EmailNotifier {
  return new EmailNotifier(new SesEmailSender(client), options);
}
