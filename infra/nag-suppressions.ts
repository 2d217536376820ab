/**
 * Every cdk-nag (AwsSolutions) finding this stack accepts, each on the narrowest construct and, for
 * wildcard findings, on the exact resource string, with the reason it is accepted. cdk-nag 3 uses
 * CDK's own `Validations.of(construct).acknowledge`; an unacknowledged finding fails `cdk synth`.
 */
import { createRequire } from 'node:module';
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { CACHE_PREFIX } from './builds.js';
import { FUNCTION_NEEDS, type FunctionName } from './functions.js';
import type { Tfgate } from './tfgate.js';

export interface Acknowledgement {
  /** The construct path the acknowledgement sits on (it covers that construct's children). */
  path: string;
  id: string;
  reason: string;
}

type FlattenCfnReference = (reference: unknown) => string;

/**
 * cdk-nag's own rendering of a resource in its finding ids. cdk-nag is optional for a user's CDK app
 * (a dev dependency here), so it is loaded only if installed; without it no finding is raised either.
 */
const flattenCfnReference: FlattenCfnReference | undefined = (() => {
  try {
    const utils = createRequire(import.meta.url)('cdk-nag/lib/utils/flatten-cfn-reference.js') as {
      flattenCfnReference: FlattenCfnReference;
    };
    return utils.flattenCfnReference;
  } catch {
    return undefined;
  }
})();

/**
 * The same string cdk-nag builds for a wildcard resource, so the acknowledgement matches that finding
 * only; undefined when cdk-nag is not installed.
 */
export function wildcardFinding(scope: IConstruct, resource: string): string | undefined {
  if (!flattenCfnReference) return undefined;
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`;
}

function acknowledge(list: Acknowledgement[], construct: IConstruct, id: string | undefined, reason: string): void {
  if (id === undefined) return;
  Validations.of(construct).acknowledge({ id, reason });
  list.push({ path: construct.node.path, id, reason });
}

const XRAY_REASON =
  'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions ' +
  '(Resource must be "*"); see the X-Ray IAM actions table.';

export function acknowledgeNagFindings(gate: Tfgate): Acknowledgement[] {
  const stack = Stack.of(gate);
  const list: Acknowledgement[] = [];
  const { functions, roles, executionArns } = gate.parts.functions;

  for (const name of Object.keys(functions) as FunctionName[]) {
    acknowledge(
      list,
      functions[name],
      'AwsSolutions-L1',
      "Node.js 22 is pinned on purpose: the functions, the build runner (CodeBuild's nodejs 22 runtime) and the " +
        'local CLI are built and tested for node22, an LTS line supported by Lambda until 2027; moving to a newer ' +
        'runtime is a tested change, not a synth default.',
    );
    acknowledge(list, roles[name], 'AwsSolutions-IAM5[Resource::*]', XRAY_REASON);
    if (FUNCTION_NEEDS[name].readsArtifacts) {
      acknowledge(
        list,
        roles[name],
        wildcardFinding(roles[name], gate.parts.storage.runObjectsArn()),
        `The ${name} function reads plan artifacts of any run and environment (keys ` +
          `artifacts/runs/<runId>/<environment>/<file>, ids unknown in advance); read-only (s3:GetObject), ` +
          `limited to that prefix of tfgate's own bucket.`,
      );
    }
    if (FUNCTION_NEEDS[name].readsArtifacts || FUNCTION_NEEDS[name].storesPlanViews) {
      acknowledge(
        list,
        roles[name],
        wildcardFinding(roles[name], gate.parts.storage.viewObjectsArn()),
        `The ${name} function ${FUNCTION_NEEDS[name].storesPlanViews ? 'stores and reads' : 'reads'} the plan views ` +
          'the pipeline function derives from each plan ' +
          `(artifacts/views/<runId>/<environment>/<kind>/plan-view.json, ` +
          `ids unknown in advance), limited to that prefix of tfgate's own bucket. No build role may write there.`,
      );
    }
    if (FUNCTION_NEEDS[name].storesSources) {
      acknowledge(
        list,
        roles[name],
        wildcardFinding(roles[name], gate.parts.storage.sourceObjectsArn()),
        `The ${name} function stores commit archives for the builds ` +
          `(artifacts/sources/<repository>/<sha>.tar.gz); repository and commit are only known per run. No build ` +
          `role may write there.`,
      );
    }
    if (FUNCTION_NEEDS[name].stateMachine.includes('DescribeExecution')) {
      acknowledge(
        list,
        roles[name],
        wildcardFinding(roles[name], executionArns),
        `The ${name} function checks whether the execution holding a lock is still running; execution names are ` +
          `generated per run, so the ARN ends in a wildcard limited to tfgate's own state machine ` +
          `(states:DescribeExecution only).`,
      );
    }
  }

  acknowledge(
    list,
    gate.parts.pipeline.stateMachine.role,
    'AwsSolutions-IAM5[Resource::*]',
    "Added by CDK for the state machine's CloudWatch Logs destination (logs:CreateLogDelivery, GetLogDelivery, " +
      'UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, ' +
      'DescribeLogGroups) and X-Ray tracing; these vended-log and X-Ray actions support no resource-level permissions.',
  );

  for (const build of gate.parts.builds.builds) {
    acknowledge(
      list,
      build.role,
      wildcardFinding(build.role, gate.parts.storage.runObjectsArn(build.environment.name, build.kind)),
      `${build.kind} builds for ${build.environment.name} write and read only their own kind's artifacts in that ` +
        `environment (artifacts/runs/<runId>/${build.environment.name}/${build.kind}/<file>), and write only new ` +
        `objects (s3:if-none-match: *), never replacing another run's; the run id is only known at build time.`,
    );
    acknowledge(
      list,
      build.role,
      wildcardFinding(build.role, gate.parts.storage.sourceObjectsArn()),
      'Builds read the commit archives the pipeline function stored (artifacts/sources/<repository>/<sha>.tar.gz, ' +
        'read-only); repository and commit are only known at build time.',
    );
    if (build.kind === 'apply') {
      acknowledge(
        list,
        build.role,
        wildcardFinding(build.role, gate.parts.storage.runObjectsArn(build.environment.name, 'plan')),
        `The apply build reads the saved deploy plan of its run ` +
          `(artifacts/runs/<runId>/${build.environment.name}/plan/<file>, read-only); the run id is only known at ` +
          `build time.`,
      );
    }
    acknowledge(
      list,
      build.project,
      'AwsSolutions-CB4',
      'The project produces no CodeBuild artifacts or reports (NO_ARTIFACTS); its outputs go to the tfgate ' +
        'artifacts bucket, encrypted at rest with SSE-S3, and logs to CloudWatch Logs. A customer-managed KMS key ' +
        'would add $1/month at rest for nothing it protects.',
    );
  }

  // The notifier mails approval requests; the approvals function mails one-time sign-in links.
  for (const name of Object.keys(roles) as FunctionName[]) {
    if (!FUNCTION_NEEDS[name].sendsEmail || !gate.config.notifications.email) continue;
    acknowledge(
      list,
      roles[name],
      wildcardFinding(roles[name], stack.formatArn({ service: 'ses', resource: 'identity', resourceName: '*' })),
      `In the SES sandbox SendEmail is authorized against each recipient's identity as well as the sender's, so ` +
        `the resource names every identity of this account; the ses:FromAddress condition pins the sender to ` +
        `notifications.email.from (the ${name} function's sends).`,
    );
  }
  for (const build of gate.parts.builds.builds) {
    acknowledge(
      list,
      build.role,
      wildcardFinding(build.role, gate.parts.storage.bucket.arnForObjects(`${CACHE_PREFIX}/*`)),
      'The shared terraform and provider cache (cache/terraform/<version>/…, cache/providers/<lock file ' +
        'sha256>-<platform>.tar.gz): keys depend on versions and lock files known only at build time. Everything ' +
        'read from it is verified (HashiCorp signature and checksum; lock-file hashes) before use.',
    );
    acknowledge(
      list,
      build.role,
      wildcardFinding(build.role, stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })),
      'Reading the build runner from the CDK bootstrap bucket, which may be encrypted with a KMS key the stack ' +
        'cannot name; kms:Decrypt is allowed only through S3 (kms:ViaService), in this account, for objects of ' +
        'that bucket (encryption context).',
    );
  }
  for (const queue of [gate.parts.deadLetters.executionEnded, gate.parts.deadLetters.schedules]) {
    acknowledge(
      list,
      queue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue (for EventBridge or EventBridge Scheduler targets); an alarm ' +
        'fires on its depth.',
    );
  }
  acknowledge(
    list,
    gate.parts.deadLetters.functionFailures,
    'AwsSolutions-SQS3',
    "This queue is itself the functions' on-failure destination (asynchronous invocations that failed after " +
      'their retries); an alarm fires on its depth.',
  );
  for (const build of gate.parts.builds.builds) {
    acknowledge(
      list,
      build.role,
      wildcardFinding(build.role, gate.parts.storage.environmentStateArn(build.environment.name)),
      `Terraform state of the ${build.environment.name} environment, of every root without a backend ` +
        `(env/${build.environment.name}/<owner>/<name>/<stack>/terraform.tfstate, its .tflock and apply record): ` +
        `repository and root are only known at build time; ${
          build.kind === 'apply' ? 'the apply reads and writes them' : 'plans only read them'
        }, never another environment's.`,
    );
  }

  const rotation: Array<[IConstruct | undefined, string]> = [
    [
      gate.parts.secrets.webhook,
      "The webhook secret is also stored in GitHub's webhook settings, which Secrets Manager cannot update; it " +
        'is rotated by hand (the functions accept {"current","previous"} during the change-over, see docs/aws.md).',
    ],
    [
      gate.parts.secrets.github,
      'A GitHub token is issued by GitHub, not by AWS; the user replaces it with put-secret-value when GitHub ' +
        'rotates or expires it.',
    ],
    [
      gate.parts.secrets.slack,
      'A Slack incoming-webhook URL is issued by Slack and cannot be rotated from AWS; the user replaces it when ' +
        'Slack reissues it.',
    ],
    [
      gate.parts.secrets.link,
      'Rotating the session key signs everyone out and voids sign-in links in flight; it is rotated by hand ' +
        '(put-secret-value) when needed, at a quiet time.',
    ],
    [
      gate.parts.secrets.signIn,
      'The GitHub sign-in client secret is issued by GitHub (GitHub App or OAuth app settings), not by AWS; the ' +
        'user replaces it with put-secret-value when regenerated there.',
    ],
  ];
  for (const [secret, reason] of rotation) {
    if (secret) acknowledge(list, secret, 'AwsSolutions-SMG4', reason);
  }
  return list;
}
