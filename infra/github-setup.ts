import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SETUP_CLAIM_PREFIX } from '../lambdas/github-setup/claims.js';
import { SETUP_PATH } from '../lambdas/github-setup/manifest.js';
import { tfgateFunction } from './functions.js';
import type { Acknowledgement } from './nag-suppressions.js';
import type { TfgateSecrets } from './secrets.js';

export interface GithubSetupProps {
  /** CONFIG: the validated configuration as JSON (github.apiUrl, approvers for the optional permissions). */
  configDocument: string;
  secrets: TfgateSecrets;
  /** Where the one-time claim is written (items `github-setup#…` only). */
  deliveries: dynamodb.ITable;
  /** The function URLs the App's webhook and sign-in callback point at. */
  webhookUrl: lambda.FunctionUrl;
  approvalsUrl: lambda.FunctionUrl;
  /** The App's suggested name on GitHub (people may change it there). */
  appName: string;
  /** Reserve one concurrent execution (see TfgateStackProps.reserveConcurrency): the URL is public. */
  reserveConcurrency: boolean;
}

/**
 * The one-click GitHub connection: a setup token generated at deploy (its own secret; the stack output
 * names the secret and the command that prints the link, never the token), and a small function behind
 * its own URL that runs GitHub's App Manifest flow. Its role reads the token and writes only the three
 * secrets GitHub's answer fills; no other function may write a secret.
 */
export class GithubSetup extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly url: lambda.FunctionUrl;
  readonly setupToken: secretsmanager.Secret;
  /** The cdk-nag findings this construct accepts, with their reasons. */
  readonly acknowledgements: Acknowledgement[] = [];

  constructor(scope: Construct, id: string, props: GithubSetupProps) {
    super(scope, id);
    this.setupToken = new secretsmanager.Secret(this, 'SetupToken', {
      description:
        'tfgate: one-time key of the GitHub setup link (/setup?token=…); put a new random value here to open a ' +
        'new link',
      // Letters and digits: it travels in a URL.
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'tfgate github-setup function',
    });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    logGroup.grantWrite(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.setupToken.secretArn] }),
    );
    const written = [props.secrets.github, props.secrets.webhook, props.secrets.signIn];
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:PutSecretValue'],
        resources: written.map((secret) => secret.secretArn),
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [props.deliveries.tableArn],
        // Its own claim items only: it can neither read nor forge webhook deliveries or sign-in links.
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${SETUP_CLAIM_PREFIX}*`] } },
      }),
    );

    this.function = tfgateFunction(this, 'Function', 'github-setup', {
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // Two secrets reads, one call to GitHub, three secret writes.
      timeout: Duration.seconds(20),
      description: 'tfgate: GitHub setup (App manifest flow behind the one-time setup link)',
      role: this.role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      // Used once or twice per deployment; one at a time caps what a flood of requests can cost.
      ...(props.reserveConcurrency ? { reservedConcurrentExecutions: 1 } : {}),
      environment: {
        CONFIG: props.configDocument,
        DELIVERIES_TABLE: props.deliveries.tableName,
        SETUP_SECRET_ARN: this.setupToken.secretArn,
        GITHUB_SECRET_ARN: props.secrets.github.secretArn,
        WEBHOOK_SECRET_ARN: props.secrets.webhook.secretArn,
        SIGNIN_SECRET_ARN: props.secrets.signIn.secretArn,
        WEBHOOK_URL: props.webhookUrl.url,
        APPROVALS_URL: props.approvalsUrl.url,
        APP_NAME: props.appName,
      },
    });
    // The setup token is the only key before anyone can sign in; IAM auth would shut out the browser.
    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    this.acknowledge(
      this.function,
      'AwsSolutions-L1',
      'Node.js 22 is pinned on purpose, as for the other tfgate functions: built and tested for node22, ' +
        'an LTS line supported by Lambda until 2027.',
    );
    this.acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions (Resource must be "*").',
    );
    this.acknowledge(
      this.setupToken,
      'AwsSolutions-SMG4',
      'The setup token is used once (a conditional write in the deliveries table uses it up); a new link is ' +
        'made by putting a new random value into the secret, so scheduled rotation would only open new links ' +
        'nobody asked for.',
    );
  }

  /** The command that prints the setup link (the token is read from the secret on the operator's machine). */
  linkCommand(): string {
    const stack = Stack.of(this);
    const printToken =
      `aws secretsmanager get-secret-value --region ${stack.region} --secret-id ${this.setupToken.secretName} ` +
      '--query SecretString --output text';
    return `echo "${this.url.url}${SETUP_PATH.slice(1)}?token=$(${printToken})"`;
  }

  private acknowledge(construct: Construct, id: string, reason: string): void {
    Validations.of(construct).acknowledge({ id, reason });
    this.acknowledgements.push({ path: construct.node.path, id, reason });
  }
}
