import nodemailer, { type Transporter } from 'nodemailer';
import { EmailNotifier, type EmailMessage, type EmailNotifierOptions, type EmailSender } from './approval-email.js';

/**
 * Local approval mail: `notifications.email.smtp` in tfgate.yaml points at an SMTP server (a team
 * relay, or a catcher such as MailHog). The same messages SES sends in AWS.
 */

export interface SmtpSettings {
  host: string;
  port: number;
}

export class SmtpEmailSender implements EmailSender {
  private readonly transport: Transporter;

  constructor(settings: SmtpSettings) {
    this.transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      // Port 465 speaks TLS from the start; elsewhere STARTTLS is used when the server offers it.
      secure: settings.port === 465,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }

  async send(message: EmailMessage): Promise<void> {
    await this.transport.sendMail({
      from: message.from,
      to: message.to,
      subject: message.subject,
      text: message.text,
      html: message.html,
    });
  }

  close(): void {
    this.transport.close();
  }
}

export function createSmtpNotifier(settings: SmtpSettings, options: EmailNotifierOptions): EmailNotifier {
  return new EmailNotifier(new SmtpEmailSender(settings), options);
}
