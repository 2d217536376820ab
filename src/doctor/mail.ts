/**
 * Mail, only where the deployed configuration sends it (`notifications.email.from`): SES must be allowed
 * to send from that address (its own identity, or its domain's, verified), and while the account is in
 * the SES sandbox mail reaches verified addresses only.
 */
import { GetAccountCommand, GetEmailIdentityCommand } from '@aws-sdk/client-sesv2';
import { accessFix, describeAwsError, errorName, isAccessDenied } from './aws-errors.js';
import type { DoctorContext } from './context.js';
import type { DoctorFacts } from './facts.js';
import { type CheckResult, fail, pass, skip, warn } from './result.js';

const ID = 'ses.identity';
const SANDBOX_ID = 'ses.sandbox';

interface Identity {
  name: string;
  verified: boolean;
  status: string;
}

async function identity(ctx: DoctorContext, name: string): Promise<Identity | undefined> {
  try {
    const answer = await ctx.clients.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: name }));
    return {
      name,
      verified: answer.VerifiedForSendingStatus === true,
      status: answer.VerificationStatus ?? 'UNKNOWN',
    };
  } catch (error) {
    if (errorName(error) === 'NotFoundException') return undefined;
    throw error;
  }
}

export async function checkMail(ctx: DoctorContext, facts: DoctorFacts): Promise<CheckResult[]> {
  const from = facts.mailFrom;
  if (!from) return [skip(ID, 'SES sender identity', 'mail is not used (no notifications.email in tfgate.yaml)')];
  const title = `SES sender identity for ${from}`;
  const domain = from.slice(from.lastIndexOf('@') + 1);
  const consoleLink = `https://${ctx.region}.console.aws.amazon.com/ses/home?region=${ctx.region}#/identities`;
  const results: CheckResult[] = [];
  try {
    const address = await identity(ctx, from);
    const domainIdentity = address?.verified ? undefined : await identity(ctx, domain);
    // Sending works through either; an unverified one is reported by the address first.
    const found = address?.verified ? address : domainIdentity?.verified ? domainIdentity : (address ?? domainIdentity);
    if (found?.verified) results.push(pass(ID, title, `${found.name} verified for sending`));
    else if (found)
      results.push(
        fail(ID, title, `${found.name} is not verified (${found.status})`, [
          'follow the link in the mail SES sent to that address (or publish the DNS records for a domain)',
          consoleLink,
        ]),
      );
    else
      results.push(
        fail(ID, title, `no SES identity for ${from} or ${domain} in ${ctx.region}`, [
          `aws sesv2 create-email-identity --email-identity ${from} --region ${ctx.region}, then follow the link ` +
            'SES mails',
        ]),
      );
  } catch (error) {
    results.push(
      fail(ID, title, describeAwsError(error), isAccessDenied(error) ? [accessFix('ses:GetEmailIdentity')] : []),
    );
  }

  const sandboxTitle = 'SES production access';
  try {
    const account = await ctx.clients.sesv2.send(new GetAccountCommand({}));
    if (account.ProductionAccessEnabled === true) results.push(pass(SANDBOX_ID, sandboxTitle, 'granted'));
    else
      results.push(
        warn(SANDBOX_ID, sandboxTitle, 'the account is in the SES sandbox: mail reaches verified addresses only', [
          "verify each approver's address, or request production access: " +
            `https://${ctx.region}.console.aws.amazon.com/ses/home?region=${ctx.region}#/account`,
        ]),
      );
    if (account.SendingEnabled === false)
      results.push(
        fail(SANDBOX_ID, 'SES sending', 'sending is paused for this account in this region', [
          `https://${ctx.region}.console.aws.amazon.com/ses/home?region=${ctx.region}#/account`,
        ]),
      );
  } catch (error) {
    results.push(
      fail(
        SANDBOX_ID,
        sandboxTitle,
        describeAwsError(error),
        isAccessDenied(error) ? [accessFix('ses:GetAccount')] : [],
      ),
    );
  }
  return results;
}
