import { existsSync } from 'node:fs';
import path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TableRole } from '../src/adapters/dynamo/table-layout.js';
import { FUNCTION_SOURCE, LAMBDA_BUNDLING } from './bundling.js';
import { PACKAGE_ROOT, packageFile, RUNNING_FROM_SOURCE } from '../src/package-files.js';
import type { SecretRole, TfgateSecrets } from './secrets.js';
import type { ArtifactStorage } from './storage.js';
import type { TableAccess, TfgateTables } from './tables.js';

/** The package's root: this repository, or node_modules/tfgate where a user's CDK app installed it. */
export const PROJECT_ROOT = PACKAGE_ROOT;

export type FunctionName = 'webhook' | 'approvals' | 'pipeline' | 'notifier' | 'reconciler' | 'githubToken';
export const FUNCTION_NAMES: readonly FunctionName[] = [
  'webhook',
  'approvals',
  'pipeline',
  'notifier',
  'reconciler',
  'githubToken',
];

/**
 * How every function is bundled: by NodejsFunction at synth from this repository's TypeScript, and by
 * `npm run build` (infra/function-bundles.ts) into dist/functions/ for the package, with these same options.
 */
export const FUNCTION_BUNDLING = {
  // One options object with the bench (infra/bundling.ts), which loads no CDK.
  minify: LAMBDA_BUNDLING.minify,
  sourceMap: LAMBDA_BUNDLING.sourceMap,
  format: OutputFormat.ESM,
  target: LAMBDA_BUNDLING.target,
  externalModules: [...LAMBDA_BUNDLING.externalModules],
  mainFields: [...LAMBDA_BUNDLING.mainFields],
  banner: LAMBDA_BUNDLING.banner,
  forceDockerBundling: false,
} as const satisfies BundlingOptions;

/** Where the package carries a function's prebuilt bundle (index.mjs), built by `npm run build`. */
export function prebuiltFunctionDir(source: string): string {
  return packageFile('dist', 'functions', source);
}

/** Every folder under lambdas/ the package ships a prebuilt function bundle for. */
export const FUNCTION_SOURCES: readonly string[] = [
  ...FUNCTION_NAMES.map((name) => FUNCTION_SOURCE[name]),
  'github-setup',
];
export type StateMachineAction = 'StartExecution' | 'DescribeExecution' | 'SendTaskSuccess' | 'SendTaskFailure';

/**
 * What each function does against AWS. Its environment variables and its IAM policy are both derived
 * from this one entry, so a function is never told about a resource it may not touch, nor granted one
 * it is not told about.
 */
export interface FunctionNeeds {
  description: string;
  memorySize: number;
  timeout: Duration;
  /** Caps runaway cost from a flood of requests and, for the reconciler, keeps passes from overlapping. */
  reservedConcurrency: number;
  /** Reads tfgate.yaml (CONFIG). */
  config: boolean;
  tables: Partial<Record<TableRole, TableAccess>>;
  readsArtifacts: boolean;
  /** Fetches commits (GitHub's archive API) and stores them under artifacts/sources/ for the builds. */
  storesSources?: boolean;
  /** Stores the views it derives from plans (the structured plan view) under artifacts/views/. */
  storesPlanViews?: boolean;
  secrets: SecretRole[];
  stateMachine: StateMachineAction[];
  /** Builds links to the approval pages. */
  approvalsUrl: boolean;
  sendsEmail: boolean;
  functionUrl: boolean;
  /**
   * Hands work to its own asynchronous invocation (the approvals function: sign-in links are looked up and mailed
   * after the request is answered). Lambda queues the event; no retries (a link lives 15 minutes).
   */
  invokesItself?: boolean;
  /**
   * Acts on GitHub with installation tokens it asks the githubToken function for (a synchronous invoke),
   * never reading the GitHub secret: the publicly reachable functions.
   */
  asksForGithubTokens?: boolean;
}

export const FUNCTION_NEEDS: Record<FunctionName, FunctionNeeds> = {
  webhook: {
    description: 'tfgate: GitHub webhook intake (verify, dedupe, record, start the run)',
    memorySize: 512,
    // GitHub gives up after 10 s and does not redeliver by itself.
    timeout: Duration.seconds(10),
    reservedConcurrency: 20,
    config: true,
    tables: { runs: 'readWrite', locks: 'readWrite', deliveries: 'readWrite' },
    readsArtifacts: false,
    secrets: ['webhook'],
    // The "queued" commit status of each run it records and the change's commits: publicly reachable, so
    // through installation tokens the githubToken function mints, never the GitHub secret.
    asksForGithubTokens: true,
    // Releasing a failed start's queue entries can hand a lock to the next waiting run.
    stateMachine: ['StartExecution', 'SendTaskSuccess', 'SendTaskFailure'],
    // The commit status links to the run page.
    approvalsUrl: true,
    sendsEmail: false,
    functionUrl: true,
  },
  approvals: {
    description: 'tfgate: sign-in, approval pages and decisions, run pages, health check',
    memorySize: 512,
    timeout: Duration.seconds(15),
    reservedConcurrency: 10,
    // Who may sign in and approve comes from tfgate.yaml.
    config: true,
    // deliveries: one-time sign-in links are used up by one conditional write there. locks: a re-run
    // (POST /runs/{id}/rerun) queues on the environment locks, takes a sequence and reads what each applied.
    tables: { runs: 'readWrite', approvals: 'readWrite', deliveries: 'readWrite', locks: 'readWrite' },
    readsArtifacts: true,
    // Session key; GitHub sign-in client. Team membership and re-runs act on GitHub through installation
    // tokens from the githubToken function: this function is publicly reachable and never reads the GitHub secret.
    secrets: ['link', 'signIn'],
    asksForGithubTokens: true,
    // StartExecution: re-runs.
    stateMachine: ['SendTaskSuccess', 'SendTaskFailure', 'StartExecution'],
    approvalsUrl: false,
    // One-time sign-in links by SES.
    sendsEmail: true,
    functionUrl: true,
    invokesItself: true,
  },
  pipeline: {
    description:
      'tfgate: state machine tasks (locks, plan records, stage results, GitHub feedback) and execution-ended events',
    memorySize: 512,
    // The state machine gives these tasks 60 s; ending first turns a hang into a Lambda error it can catch.
    timeout: Duration.seconds(50),
    reservedConcurrency: 20,
    config: true,
    tables: { runs: 'readWrite', locks: 'readWrite', approvals: 'readWrite' },
    readsArtifacts: true,
    storesSources: true,
    storesPlanViews: true,
    // Plan comments on pull requests and commit statuses, and the commit archives builds plan from.
    secrets: ['github'],
    // Granting a freed lock resumes the next run's waiting task.
    stateMachine: ['SendTaskSuccess', 'SendTaskFailure'],
    approvalsUrl: true,
    sendsEmail: false,
    functionUrl: false,
  },
  notifier: {
    description: 'tfgate: approval requests (stores the task token, sends Slack and email)',
    memorySize: 256,
    timeout: Duration.seconds(30),
    reservedConcurrency: 5,
    config: true,
    // The lock queue tells whether a newer push already waits for this environment; if so the run
    // gives way (its approval is superseded and its own wait fails) instead of asking anyone.
    tables: { runs: 'readWrite', approvals: 'readWrite', locks: 'read' },
    readsArtifacts: true,
    // Slack; and the "waiting for approval" / "superseded" commit statuses it records.
    secrets: ['slack', 'github'],
    stateMachine: ['SendTaskFailure'],
    approvalsUrl: true,
    sendsEmail: true,
    functionUrl: false,
  },
  githubToken: {
    description: 'tfgate: GitHub installation tokens for the public functions (the only one of them to read the key)',
    memorySize: 256,
    // Two GitHub calls of at most 10 s each: the installation, then its token.
    timeout: Duration.seconds(25),
    reservedConcurrency: 5,
    // Tokens only for the repositories and team organizations tfgate.yaml names.
    config: true,
    tables: {},
    readsArtifacts: false,
    secrets: ['github'],
    stateMachine: [],
    approvalsUrl: false,
    sendsEmail: false,
    // Reached only by lambda:InvokeFunction from the roles granted it: no URL, no event source.
    functionUrl: false,
  },
  reconciler: {
    description: 'tfgate: missed pushes, locks held by ended executions, drift runs',
    memorySize: 512,
    // Shorter than the five-minute schedule so two passes never overlap.
    timeout: Duration.minutes(4),
    reservedConcurrency: 1,
    config: true,
    tables: { runs: 'readWrite', locks: 'readWrite', deliveries: 'readWrite' },
    // For the plan comment when it ends a pull request's run.
    readsArtifacts: true,
    // Branch heads for missed pushes; commit statuses.
    secrets: ['github'],
    stateMachine: ['StartExecution', 'DescribeExecution', 'SendTaskSuccess', 'SendTaskFailure'],
    approvalsUrl: true,
    sendsEmail: false,
    functionUrl: false,
  },
};

const TABLE_ENV: Record<TableRole, string> = {
  runs: 'RUNS_TABLE',
  locks: 'LOCKS_TABLE',
  approvals: 'APPROVALS_TABLE',
  deliveries: 'DELIVERIES_TABLE',
};

const SECRET_ENV: Record<SecretRole, string> = {
  webhook: 'WEBHOOK_SECRET_ARN',
  github: 'GITHUB_SECRET_ARN',
  slack: 'SLACK_SECRET_ARN',
  link: 'SESSION_SECRET_ARN',
  signIn: 'SIGNIN_SECRET_ARN',
};

// Lambda refuses environments over 4 KiB in total; the ARNs and names around CONFIG take about 1 KiB.
const MAX_CONFIG_ENV_BYTES = 3 * 1024;

export interface TfgateFunctionsProps {
  /** The CONFIG value: the validated, normalized configuration as JSON (see infra/config.ts). */
  configDocument: string;
  tables: TfgateTables;
  storage: ArtifactStorage;
  secrets: TfgateSecrets;
  stateMachineName: string;
  /** The address the notifier sends from (an SES identity), when `notifications.email` is configured. */
  email?: { from: string };
  reserveConcurrency: boolean;
  /** Where an asynchronous invocation that failed after its retries goes (an alarm watches it). */
  failures?: sqs.IQueue;
}

export class TfgateFunctions extends Construct {
  readonly functions: Record<FunctionName, lambda.Function>;
  readonly roles: Record<FunctionName, iam.Role>;
  readonly urls: { webhook: lambda.FunctionUrl; approvals: lambda.FunctionUrl };
  readonly stateMachineArn: string;
  readonly executionArns: string;

  constructor(scope: Construct, id: string, props: TfgateFunctionsProps) {
    super(scope, id);
    const configJson = props.configDocument;
    if (Buffer.byteLength(configJson) > MAX_CONFIG_ENV_BYTES) {
      throw new Error(
        `the configuration is ${Buffer.byteLength(configJson)} bytes as resolved JSON (defaults filled in); the ` +
          `functions receive it in an environment ` +
          `variable, and Lambda allows 4 KiB for all of them together (at most ${MAX_CONFIG_ENV_BYTES} bytes for ` +
          `the configuration).`,
      );
    }
    const stack = Stack.of(this);
    // Built from the name instead of referenced: the state machine refers to these functions, so a
    // reference back would be a dependency cycle.
    this.stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const executionArns = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.executionArns = executionArns;

    const roles = {} as Record<FunctionName, iam.Role>;
    const functions = {} as Record<FunctionName, lambda.Function>;
    let approvalsUrl: lambda.FunctionUrl | undefined;
    let webhookUrl: lambda.FunctionUrl | undefined;

    // The token function first (the public ones are given its name), then approvals (the others get its URL).
    const order: FunctionName[] = ['githubToken', 'approvals', 'webhook', 'pipeline', 'notifier', 'reconciler'];
    for (const name of order) {
      const needs = FUNCTION_NEEDS[name];
      const pascal = name[0]!.toUpperCase() + name.slice(1);
      const role = new iam.Role(this, `${pascal}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `tfgate ${name} function`,
      });
      const logGroup = new logs.LogGroup(this, `${pascal}Logs`, {
        retention: logs.RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      });
      logGroup.grantWrite(role);

      const environment: Record<string, string> = needs.config ? { CONFIG: configJson } : {};
      for (const [tableRole, access] of Object.entries(needs.tables) as Array<[TableRole, TableAccess]>) {
        environment[TABLE_ENV[tableRole]] = props.tables.tables[tableRole].tableName;
        props.tables.grant(role, tableRole, access);
      }
      if (needs.readsArtifacts) {
        // The builds' location (s3://bucket/artifacts), so both sides use the same keys.
        environment.ARTIFACTS_BUCKET = props.storage.artifactsUrl();
        props.storage.grantReadRuns(role);
      }
      if (needs.storesSources) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['s3:GetObject', 's3:PutObject'],
            resources: [props.storage.sourceObjectsArn()],
          }),
        );
      }
      if (needs.storesPlanViews) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.storage.viewObjectsArn()] }),
        );
      }
      for (const secretRole of needs.secrets) {
        const secret = props.secrets[secretRole];
        // The Slack secret exists only when Slack is configured; without it the notifier sends no Slack message.
        if (!secret) continue;
        environment[SECRET_ENV[secretRole]] = secret.secretArn;
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
        );
      }
      if (needs.stateMachine.length > 0) {
        // SendTaskSuccess/Failure address an execution by its task token; only starting and describing
        // executions need the machine's ARN in the environment (the grant below names it either way).
        if (needs.stateMachine.some((action) => action === 'StartExecution' || action === 'DescribeExecution')) {
          environment.STATE_MACHINE_ARN = this.stateMachineArn;
        }
        const onMachine = needs.stateMachine.filter((action) => action !== 'DescribeExecution');
        if (onMachine.length > 0) {
          role.addToPrincipalPolicy(
            new iam.PolicyStatement({
              actions: onMachine.map((a) => `states:${a}`),
              resources: [this.stateMachineArn],
            }),
          );
        }
        if (needs.stateMachine.includes('DescribeExecution')) {
          role.addToPrincipalPolicy(
            new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionArns] }),
          );
        }
      }
      if (needs.asksForGithubTokens) {
        const minter = functions.githubToken;
        if (!minter) throw new Error('internal: the GitHub token function is needed before the public functions');
        environment.GITHUB_MINTER_FUNCTION = minter.functionName;
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [minter.functionArn] }),
        );
      }
      if (needs.approvalsUrl) {
        if (!approvalsUrl)
          throw new Error('internal: the approvals URL is needed before the approvals function exists');
        environment.APPROVALS_URL = approvalsUrl.url;
      }
      if (needs.sendsEmail && props.email) {
        environment.SES_FROM = props.email.from;
        // In the SES sandbox, SendEmail is authorized against the recipients' identities as well as the
        // sender's, so the grant names every identity of the account and pins the sender instead.
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['ses:SendEmail'],
            resources: [Stack.of(this).formatArn({ service: 'ses', resource: 'identity', resourceName: '*' })],
            conditions: { StringEquals: { 'ses:FromAddress': props.email.from } },
          }),
        );
      }

      const settings: lambda.FunctionOptions = {
        architecture: lambda.Architecture.ARM_64,
        memorySize: needs.memorySize,
        timeout: needs.timeout,
        description: needs.description,
        role,
        logGroup,
        tracing: lambda.Tracing.ACTIVE,
        ...(props.reserveConcurrency ? { reservedConcurrentExecutions: needs.reservedConcurrency } : {}),
        environment,
      };
      const fn = tfgateFunction(this, pascal, FUNCTION_SOURCE[name], settings);
      roles[name] = role;
      functions[name] = fn;
      if (needs.invokesItself) {
        // A policy of its own: the function depends on its role's default policy, so naming the function's ARN
        // there would be a cycle.
        new iam.Policy(this, `${pascal}InvokesItself`, {
          roles: [role],
          statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] })],
        });
      }
      // Asynchronous paths (EventBridge, the scheduler, the sign-in hand-off) fail silently otherwise: an
      // event that failed after its retries goes to the failures queue, whose alarm tells someone.
      fn.configureAsyncInvoke({
        ...(needs.invokesItself ? { retryAttempts: 0, maxEventAge: Duration.minutes(15) } : {}),
        ...(props.failures ? { onFailure: new destinations.SqsDestination(props.failures) } : {}),
      });
      if (needs.functionUrl) {
        // GitHub signs webhook requests; every other route needs tfgate's own sign-in (GitHub or an
        // emailed one-time link). IAM auth would shut out both GitHub and people's browsers.
        const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
        if (name === 'approvals') approvalsUrl = url;
        if (name === 'webhook') webhookUrl = url;
      }
    }
    if (!approvalsUrl || !webhookUrl) throw new Error('internal: function URLs missing');
    this.functions = functions;
    this.roles = roles;
    this.urls = { webhook: webhookUrl, approvals: approvalsUrl };
  }
}

/**
 * One function of tfgate's, built from `lambdas/<source>/lambda.ts`: bundled by NodejsFunction at synth
 * in this repository, or taken from the bundle `npm run build` put in dist/functions/ when tfgate is an
 * installed package (which has neither the TypeScript sources nor esbuild).
 */
export function tfgateFunction(
  scope: Construct,
  id: string,
  source: string,
  settings: lambda.FunctionOptions,
): lambda.Function {
  if (RUNNING_FROM_SOURCE) {
    return new NodejsFunction(scope, id, {
      ...settings,
      entry: path.join(PROJECT_ROOT, 'lambdas', source, 'lambda.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      bundling: {
        ...FUNCTION_BUNDLING,
        externalModules: [...FUNCTION_BUNDLING.externalModules],
        mainFields: [...FUNCTION_BUNDLING.mainFields],
      },
    });
  }
  const dir = prebuiltFunctionDir(source);
  if (!existsSync(path.join(dir, 'index.mjs'))) {
    throw new Error(
      `tfgate: the ${source} function's bundle ${path.join(dir, 'index.mjs')} is missing; the package is ` +
        `incomplete (npm run build makes it)`,
    );
  }
  return new lambda.Function(scope, id, {
    ...settings,
    runtime: lambda.Runtime.NODEJS_22_X,
    code: lambda.Code.fromAsset(dir),
    handler: 'index.handler',
  });
}
