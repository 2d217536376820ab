import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  Annotations,
  AssetHashType,
  Aws,
  BundlingOutput,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
} from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { buildLimits } from '../src/config/build-limits.js';
import { DEFAULT_PLAN_TIMEOUT_SECONDS } from '../src/config/schema.js';
import type { TfgateConfig } from '../src/config/load.js';
import { BUILD_KINDS, buildProjectName, type BuildKind } from '../src/domain/builds.js';
import { packageFile, RUNNING_FROM_SOURCE } from '../src/package-files.js';
import { PROJECT_ROOT } from './functions.js';
import { pascalId, type BuildEnvironment } from './naming.js';
import { STATE_ENVIRONMENTS_PREFIX } from '../src/build-runner/managed-state.js';
import type { ArtifactStorage } from './storage.js';

/**
 * Everything tfgate keeps on the build host lives here: /tmp is the one place every compute type can
 * write (Lambda compute runs builds as a non-root user with a read-only home).
 */
const TFGATE_HOME = '/tmp/tfgate';
const PLUGIN_CACHE_DIR = `${TFGATE_HOME}/plugin-cache`;
const DOWNLOADS_DIR = `${TFGATE_HOME}/downloads`;
const TERRAFORM_BIN = `${TFGATE_HOME}/bin/terraform`;
/** Runs terraform as the environment's role while the runner itself keeps the project role. */
const TERRAFORM_AS_TARGET = `${TFGATE_HOME}/bin/terraform-as-target`;
const RUNNER_FILE = `${TFGATE_HOME}/runner.mjs`;
/** The profiles terraform reads: tfgate-state (the build role, for the state bucket) and tfgate-target. */
const AWS_CONFIG_FILE = `${TFGATE_HOME}/aws-config`;
const AWS_CREDENTIALS_FILE = `${TFGATE_HOME}/aws-credentials`;
const STATE_PROFILE = 'tfgate-state';

/** HashiCorp's release signing key, kept in the repository: SHA256SUMS is trusted only with its signature. */
export const HASHICORP_KEY_FILE = path.join(PROJECT_ROOT, 'infra', 'keys', 'hashicorp-release.asc');
export const HASHICORP_KEY_FINGERPRINT = 'C874011F0AB405110D02105534365D9472D7468F';

/** Where builds share terraform downloads and provider archives: `s3://<artifacts bucket>/cache/…`. */
export const CACHE_PREFIX = 'cache';

export type BuildMode = 'plan' | 'apply';

export interface BuildProjectSettings {
  environment: { buildImage: codebuild.IBuildImage; computeType: codebuild.ComputeType; privileged: false };
  /** CodeBuild's own default for the project; each build passes its mode's limit as an override. */
  timeout: Duration;
  /** What the mode may do in the shared cache: plans (unreviewed code) only read it. */
  cacheActions: string[];
  lambdaCompute: boolean;
}

/**
 * Per-mode compute: the plan and pull-request plan projects use the plan settings, the apply project
 * the apply settings. Plans start in
 * seconds on CodeBuild Lambda compute (arm64) unless `terraform.planCompute: ec2`; applies always
 * run on EC2, because Lambda compute ends every build at 15 minutes, mid-apply.
 */
export function buildProjectSettings(mode: BuildMode, config: TfgateConfig): BuildProjectSettings {
  const lambdaCompute = mode === 'plan' && config.terraform.planCompute === 'lambda';
  const limits = buildLimits(mode, config);
  return {
    environment: lambdaCompute
      ? {
          buildImage: codebuild.LinuxArmLambdaBuildImage.AMAZON_LINUX_2023_NODE_22,
          computeType: codebuild.ComputeType.LAMBDA_2GB,
          privileged: false,
        }
      : {
          buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
          computeType: codebuild.ComputeType.SMALL,
          privileged: false,
        },
    timeout: Duration.minutes(limits.timeoutMinutes),
    cacheActions: mode === 'apply' ? ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'] : ['s3:GetObject'],
    lambdaCompute,
  };
}

export interface TfgateBuildsProps {
  config: TfgateConfig;
  environments: BuildEnvironment[];
  projectPrefix: string;
  storage: ArtifactStorage;
}

export interface EnvironmentBuild {
  environment: BuildEnvironment;
  kind: BuildKind;
  project: codebuild.Project;
  role: iam.Role;
  /** Where the project's builds log (the run page reads their tail). */
  logGroup: logs.LogGroup;
  /** The role this build's Terraform assumes, if any: roleArn for apply, planRoleArn for the two plan kinds. */
  assumes?: string;
}

const KIND_IDS: Record<BuildKind, string> = { plan: 'Plan', apply: 'Apply', 'pr-plan': 'PullRequestPlan' };
const KIND_PURPOSE: Record<BuildKind, string> = {
  plan: 'terraform plan of pushes to the tracked branch (read-only role)',
  apply: 'terraform apply of approved saved plans (the only build that may assume roleArn)',
  'pr-plan': 'terraform plan of pull requests and drift checks (read-only role, own artifact prefix)',
};

/**
 * Three CodeBuild projects per environment name (plan, apply, pull-request plan), each with its own
 * role: a build for `apps` never holds credentials that reach `ops` (and the other way round), a plan
 * never holds the apply role, no build can read a secret, and each writes only under its own
 * `runs/<run>/<environment>/<kind>/` prefix.
 */
export class TfgateBuilds extends Construct {
  readonly builds: EnvironmentBuild[];
  readonly runner: s3assets.Asset;

  constructor(scope: Construct, id: string, props: TfgateBuildsProps) {
    super(scope, id);
    this.runner = bundleRunner(this);
    const ids = new Set<string>();
    for (const mode of ['plan', 'apply'] as const) {
      const wanted = Math.ceil(
        (mode === 'plan' ? props.config.timeouts.planSeconds : props.config.timeouts.applySeconds) / 60,
      );
      const limit = buildLimits(mode, props.config).timeoutMinutes;
      // The default plan timeout means "as long as the plan compute allows": no warning for a configuration
      // that never set it (on Lambda compute every plan stops at 15 minutes, which the docs say).
      const planDefault = mode === 'plan' && props.config.timeouts.planSeconds === DEFAULT_PLAN_TIMEOUT_SECONDS;
      if (limit !== wanted && !(planDefault && wanted > limit)) {
        const onLambda =
          mode === 'plan' && props.config.terraform.planCompute === 'lambda'
            ? ' on Lambda compute (15 minutes; terraform.planCompute: ec2 for longer plans)'
            : '';
        Annotations.of(this).addWarningV2(
          `tfgate:${mode}Timeout`,
          `timeouts.${mode} of ${wanted} minutes is outside what ${mode} builds ` +
            `allow${onLambda}; they stop after ${limit} minutes`,
        );
      }
    }
    const apply = buildProjectSettings('apply', props.config);
    const plan = buildProjectSettings('plan', props.config);

    this.builds = props.environments.flatMap((environment) => {
      const envId = pascalId(environment.name);
      if (ids.has(envId)) {
        throw new Error(
          `environment names that differ only in "-" or "_" (${environment.name}) cannot be told apart in the ` +
            `stack; rename one`,
        );
      }
      ids.add(envId);
      return BUILD_KINDS.map((kind) => this.build(props, environment, envId, kind, kind === 'apply' ? apply : plan));
    });
  }

  private build(
    props: TfgateBuildsProps,
    environment: BuildEnvironment,
    envId: string,
    kind: BuildKind,
    settings: BuildProjectSettings,
  ): EnvironmentBuild {
    const id = `${envId}${KIND_IDS[kind]}`;
    const role = new iam.Role(this, `${id}BuildRole`, {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: `tfgate ${kind} builds for the ${environment.name} environment`,
    });
    const logGroup = new logs.LogGroup(this, `${id}BuildLogs`, {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    logGroup.grantWrite(role);
    // Writes only under its own kind's prefix (a pull-request plan cannot touch what a deploy run reads),
    // and only creates: S3 refuses a PutObject without If-None-Match: * here, so no build can replace an
    // object another run's build stored (its tfplan, its plan text). The runner writes every stage
    // artifact once, that way.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.storage.runObjectsArn(environment.name, kind)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.storage.runObjectsArn(environment.name, kind)],
        conditions: { StringEquals: { 's3:if-none-match': '*' } },
      }),
    );
    // Reads the source archives the pipeline stored; the apply also reads its run's deploy plan.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          props.storage.sourceObjectsArn(),
          ...(kind === 'apply' ? [props.storage.runObjectsArn(environment.name, 'plan')] : []),
        ],
      }),
    );
    props.storage.grantMissingIsNotFound(role);
    // The shared terraform and provider cache: plans (unreviewed code) only read it, applies fill it.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: settings.cacheActions,
        resources: [props.storage.bucket.arnForObjects(`${CACHE_PREFIX}/*`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${this.runner.s3BucketName}/${this.runner.s3ObjectKey}`],
      }),
    );
    // Terraform state (roots without a backend): an apply reads and writes its environment's state, lock
    // files and apply records; plans only read them (they plan with -lock=false). Listing shows the
    // state's names (terraform's S3 backend lists workspaces), never a state's content.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: kind === 'apply' ? ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] : ['s3:GetObject'],
        resources: [props.storage.environmentStateArn(environment.name)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.storage.stateBucket.bucketArn] }),
    );
    if (kind === 'plan') {
      // A new environment's first plan: terraform would create the workspace's state itself (lock and
      // write). The runner writes an empty one instead, and S3 lets a plan role do only that: a write
      // with If-None-Match, which never replaces an object (documented for bucket policies). Never a
      // pull-request plan's role: its code is unreviewed and could plant a state (resource ids to
      // destroy) for an environment that has not applied yet; it plans against an empty local state.
      props.storage.stateBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [role],
          actions: ['s3:PutObject'],
          resources: [
            props.storage.stateBucket.arnForObjects(
              `${STATE_ENVIRONMENTS_PREFIX}/${environment.name}/*/terraform.tfstate`,
            ),
          ],
          conditions: { StringEquals: { 's3:if-none-match': '*' } },
        }),
      );
    }
    // The runner is read from the CDK bootstrap bucket, which may be encrypted with a KMS key this
    // stack cannot name: decrypting is allowed only as part of an S3 read in this account and region.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [Stack.of(this).formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com`, 'kms:CallerAccount': Aws.ACCOUNT_ID },
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': `arn:${Aws.PARTITION}:s3:::${this.runner.s3BucketName}/*` },
        },
      }),
    );
    const assumes = kind === 'apply' ? environment.roleArn : environment.planRoleArn;
    if (assumes)
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [assumes] }));
    const missingRole =
      kind === 'apply'
        ? undefined
        : assumes
          ? undefined
          : `no planRoleArn is configured for ${environment.name}: this plan runs with the build's own role, ` +
            `which reads nothing but tfgate's artifacts`;

    const project = new codebuild.Project(this, `${id}Build`, {
      projectName: buildProjectName(props.projectPrefix, environment.name, kind),
      description: `tfgate: ${KIND_PURPOSE[kind]} for the ${environment.name} environment`,
      // The role above is the whole policy; the construct would otherwise add report-group and
      // default log-group permissions this project never uses.
      role: role.withoutPolicyUpdates(),
      environment: {
        ...settings.environment,
        environmentVariables: {
          TFGATE_BUILD_KIND: { value: kind },
          TFGATE_ARTIFACTS: { value: props.storage.artifactsUrl() },
          TFGATE_CACHE: { value: `s3://${props.storage.bucket.bucketName}/${CACHE_PREFIX}` },
          TFGATE_RUNNER_URL: { value: this.runner.s3ObjectUrl },
          TFGATE_STATE_BUCKET: { value: props.storage.stateBucket.bucketName },
          TFGATE_STATE_PROFILE: { value: STATE_PROFILE },
          TFGATE_AWS_PROFILE_FILE: { value: AWS_CONFIG_FILE },
          TFGATE_AWS_SHARED_FILE: { value: AWS_CREDENTIALS_FILE },
          TFGATE_TERRAFORM: { value: assumes ? TERRAFORM_AS_TARGET : TERRAFORM_BIN },
          ...(assumes ? { TFGATE_ASSUME_ROLE_ARN: { value: assumes } } : {}),
          ...(missingRole ? { TFGATE_ROLE_NOTICE: { value: missingRole } } : {}),
        },
      },
      buildSpec: buildSpec(requiredTerraformVersion(props.config), assumes !== undefined),
      // No CodeBuild cache: Lambda compute has none, and terraform and providers come from the S3
      // cache the buildspec and the runner keep, keyed by version and by lock file.
      // Lambda compute ends every build at 15 minutes and takes no project timeout of its own.
      ...(settings.lambdaCompute ? {} : { timeout: settings.timeout }),
      logging: { cloudWatch: { logGroup } },
    });
    return { environment, kind, project, role, logGroup, ...(assumes ? { assumes } : {}) };
  }

  /**
   * The run page's build output: find a run's build in these projects and read its log, nothing more
   * (no StartBuild or StopBuild, no other log group).
   */
  grantReadBuildLogs(grantee: iam.IGrantable): void {
    if (this.builds.length === 0) return;
    const projects = this.builds.map((build) => build.project.projectArn);
    const logGroups = this.builds.map((build) => build.logGroup.logGroupArn);
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['codebuild:ListBuildsForProject', 'codebuild:BatchGetBuilds'],
        resources: projects,
      }),
    );
    principal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:GetLogEvents'], resources: logGroups }));
  }
}

export const RUNNER_SOURCE_DIR = path.join(PROJECT_ROOT, 'src', 'build-runner');

/**
 * esbuild options of the build runner CodeBuild runs: one ESM file, since the build host has Node 22 and
 * nothing of tfgate's dependencies. Used at synth from this repository's source, and by `npm run build`
 * for the package (PREBUILT_CODEBUILD_RUNNER), so both ship the same program.
 */
export const RUNNER_BUNDLE_OPTIONS = {
  entryPoints: [path.join(RUNNER_SOURCE_DIR, 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  mainFields: ['module', 'main'],
  banner: {
    js:
      "import { createRequire as __tfgateCreateRequire } from 'node:module'; const require = " +
      '__tfgateCreateRequire(import.meta.url);',
  },
  logLevel: 'error',
  absWorkingDir: PROJECT_ROOT,
} as const;

/** The runner bundle the installed package carries (no sources or esbuild there), built by `npm run build`. */
export const PREBUILT_CODEBUILD_RUNNER = packageFile('dist', 'functions', 'build-runner', 'runner.mjs');

function bundleRunner(scope: Construct): s3assets.Asset {
  if (!RUNNING_FROM_SOURCE) {
    if (!existsSync(PREBUILT_CODEBUILD_RUNNER)) {
      throw new Error(
        `tfgate: the build runner bundle ${PREBUILT_CODEBUILD_RUNNER} is missing; the package is incomplete (npm ` +
          `run build makes it)`,
      );
    }
    return new s3assets.Asset(scope, 'Runner', { path: PREBUILT_CODEBUILD_RUNNER });
  }
  return new s3assets.Asset(scope, 'Runner', {
    path: RUNNER_SOURCE_DIR,
    // Hash what was built, so a change in a shared module or a dependency changes the asset too.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never pulled: local bundling either succeeds or throws, and this machine has no Docker.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
      outputType: BundlingOutput.SINGLE_FILE,
      local: {
        tryBundle(outputDir: string): boolean {
          // A dev dependency, loaded only on this path: CDK's local bundling is synchronous.
          const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
          esbuild.buildSync({
            ...RUNNER_BUNDLE_OPTIONS,
            entryPoints: [...RUNNER_BUNDLE_OPTIONS.entryPoints],
            mainFields: [...RUNNER_BUNDLE_OPTIONS.mainFields],
            outfile: path.join(outputDir, 'runner.mjs'),
          });
          return true;
        },
      },
    },
  });
}

/**
 * The install phase: terraform from the S3 cache or releases.hashicorp.com, used only when HashiCorp's
 * signature over SHA256SUMS verifies with the key kept in the repository and the zip's checksum is in
 * that file. Exported for the test that runs it against fakes of curl, aws and unzip.
 */
export function installTerraformScript(
  terraformVersion: string,
  key = readFileSync(HASHICORP_KEY_FILE, 'utf8').trim(),
  fingerprint = HASHICORP_KEY_FINGERPRINT,
): string[] {
  const zip = `terraform_${terraformVersion}_linux_arm64.zip`;
  const sums = `terraform_${terraformVersion}_SHA256SUMS`;
  // Signed with the current key for every release since 2021 (the plain .sig of older ones is not).
  const signature = `${sums}.72D7468F.sig`;
  const base = `https://releases.hashicorp.com/terraform/${terraformVersion}`;
  const gnupg = `${TFGATE_HOME}/gnupg`;
  return [
    `mkdir -p "${TFGATE_HOME}/bin" "${PLUGIN_CACHE_DIR}" "${DOWNLOADS_DIR}"`,
    `mkdir -m 700 -p "${gnupg}"`,
    `cd "${DOWNLOADS_DIR}"`,
    'command -v gpg >/dev/null || { echo "tfgate: gpg is needed to check the terraform signature and is not on ' +
      'this build image" >&2; exit 1; }',
    `cat > "${gnupg}/hashicorp.asc" <<'TFGATE_KEY'
${key}
TFGATE_KEY`,
    `gpg --batch --quiet --homedir "${gnupg}" --dearmor -o "${gnupg}/hashicorp.gpg" "${gnupg}/hashicorp.asc"`,
    // SHA256SUMS counts only when HashiCorp's key (this fingerprint, or its signing subkey) signed it
    // (grep without -q: quitting early would kill gpg with SIGPIPE and fail the pipeline);
    // the zip counts only when its line in that file matches. Cached copies are checked the same way.
    `verified() { gpg --batch --homedir "${gnupg}" --no-default-keyring --keyring "${gnupg}/hashicorp.gpg" ` +
      `--trust-model always --status-fd 1 --verify "${signature}" "${sums}" 2>/dev/null | grep -E '^\\[GNUPG:\\] ` +
      `VALIDSIG .* ${fingerprint}$' >/dev/null && grep -E "  ${zip.replace(/\./g, '\\.')}$" "${sums}" | sha256sum ` +
      `-c --status -; }`,
    `cached="$TFGATE_CACHE/terraform/${terraformVersion}"`,
    `for f in "${sums}" "${signature}" "${zip}"; do aws s3 cp --only-show-errors "$cached/$f" "$f" >/dev/null ` +
      `2>&1 || true; done`,
    'if verified; then echo "tfgate: terraform from the cache, signature and checksum verified"; else',
    `  rm -f "${sums}" "${signature}" "${zip}"`,
    `  curl -fsSL --proto '=https' --retry 3 -o "${sums}" "${base}/${sums}"`,
    `  curl -fsSL --proto '=https' --retry 3 -o "${signature}" "${base}/${signature}"`,
    `  curl -fsSL --proto '=https' --retry 3 -o "${zip}" "${base}/${zip}"`,
    '  verified || { echo "tfgate: the signature of SHA256SUMS or the checksum of the terraform zip did not ' +
      'verify; refusing to run it" >&2; exit 1; }',
    `  for f in "${sums}" "${signature}" "${zip}"; do aws s3 cp --only-show-errors "$f" "$cached/$f" || echo ` +
      `"tfgate: could not fill the terraform cache (continuing)"; done`,
    'fi',
    // Lambda compute images list no unzip; Python, which they do have, can unpack the one file.
    `if command -v unzip >/dev/null; then unzip -o -q "${zip}" terraform -d "${TFGATE_HOME}/bin"; else python3 -c ` +
      `'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("terraform", sys.argv[2])' "${zip}" ` +
      `"${TFGATE_HOME}/bin"; fi`,
    `chmod 0755 "${TERRAFORM_BIN}"`,
    `"${TERRAFORM_BIN}" version`,
    // Standard (EC2) images pick a Node version with n; Lambda images have one Node, 22 for plans.
    'if command -v n >/dev/null && [ "$(node -p process.versions.node | cut -d. -f1)" -lt 22 ]; then n 22 ' +
      '>/dev/null 2>&1 || true; hash -r; fi',
    'node --version',
  ];
}

/** The construct is built from a configuration the stack config checked; a bare TfgateConfig may still lack it. */
function requiredTerraformVersion(config: TfgateConfig): string {
  const version = config.terraform.version;
  if (version === undefined)
    throw new TypeError('tfgate: terraform.version is required for AWS builds (the terraform CodeBuild installs)');
  return version;
}

function buildSpec(terraformVersion: string, assumesRole: boolean): codebuild.BuildSpec {
  const installTerraform = installTerraformScript(terraformVersion);

  // The build role's own credentials as a profile (tfgate-state): terraform's S3 backend for the state
  // bucket reads them even when terraform itself runs as the environment's role.
  // EC2 compute serves them from the container endpoint; Lambda compute hands them over as environment
  // variables, which terraform must not see when it runs as another role (they would win over the
  // profile), so they reach the profiles through a credentials file instead.
  const profiles = [
    `if [ -n "\${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}\${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ]; then`,
    `  source='credential_source = EcsContainer'; : > "${AWS_CREDENTIALS_FILE}"`,
    `  printf '[profile ${STATE_PROFILE}]\\n%s\\nregion = %s\\n' "$source" "$AWS_REGION" > "${AWS_CONFIG_FILE}"`,
    'else',
    `  source='source_profile = tfgate-source'`,
    `  (umask 077; for p in tfgate-source ${STATE_PROFILE}; do printf '[%s]\\naws_access_key_id = %s\\n` +
      `aws_secret_access_key = %s\\naws_session_token = %s\\n' "$p" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" ` +
      `"\${AWS_SESSION_TOKEN:-}"; done > "${AWS_CREDENTIALS_FILE}")`,
    `  printf '[profile ${STATE_PROFILE}]\\nregion = %s\\n' "$AWS_REGION" > "${AWS_CONFIG_FILE}"`,
    'fi',
  ];
  // Terraform (and a backend it declares) reads the target profile; the runner never does, so its
  // artifact uploads keep using the project role, and the SDK refreshes the assumed role on long applies.
  const targetProfile = [
    `session="tfgate-$(printf '%s' "\${TFGATE_RUN_ID:-build}" | tr -c 'A-Za-z0-9=,.@_-' '-' | cut -c1-50)"`,
    `printf '[profile tfgate-target]\\nrole_arn = %s\\n%s\\nrole_session_name = %s\\nregion = %s\\n' ` +
      `"$TFGATE_ASSUME_ROLE_ARN" "$source" "$session" "$AWS_REGION" >> "${AWS_CONFIG_FILE}"`,
    `printf '#!/bin/bash\\nexport AWS_CONFIG_FILE=${AWS_CONFIG_FILE} ` +
      `AWS_SHARED_CREDENTIALS_FILE=${AWS_CREDENTIALS_FILE} AWS_PROFILE=tfgate-target\\nunset ` +
      `AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN\\nexec ${TERRAFORM_BIN} "$@"\\n' > ` +
      `"${TERRAFORM_AS_TARGET}"`,
    `chmod 0755 "${TERRAFORM_AS_TARGET}"`,
    // Fail here, naming the role, rather than inside terraform with a generic credentials error.
    `env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN ` +
      `AWS_CONFIG_FILE="${AWS_CONFIG_FILE}" AWS_SHARED_CREDENTIALS_FILE="${AWS_CREDENTIALS_FILE}" ` +
      `AWS_PROFILE=tfgate-target aws sts get-caller-identity --output text --query Arn || { echo "tfgate: cannot ` +
      `assume $TFGATE_ASSUME_ROLE_ARN: its trust policy must allow this build project's role" >&2; exit 1; }`,
  ];

  // No secret reaches a build: the source archive is already in S3 (the pipeline fetched it).
  const runTheRunner = [`exec node "${RUNNER_FILE}"`];

  return codebuild.BuildSpec.fromObject({
    version: '0.2',
    env: {
      shell: 'bash',
      variables: {
        TF_PLUGIN_CACHE_DIR: PLUGIN_CACHE_DIR,
        TF_IN_AUTOMATION: 'true',
        TF_INPUT: '0',
      },
    },
    phases: {
      // No runtime-versions: Lambda compute refuses them; the install script picks Node itself.
      install: {
        commands: [script(installTerraform)],
      },
      pre_build: {
        commands: [
          script([...profiles, ...(assumesRole ? targetProfile : [])]),
          `aws s3 cp --only-show-errors "$TFGATE_RUNNER_URL" "${RUNNER_FILE}"`,
        ],
      },
      build: {
        commands: [script(runTheRunner)],
      },
    },
  });
}

/**
 * One buildspec command per step list, run in a subshell: strict mode stops at the first failing
 * line, and does not leak into the shell CodeBuild keeps for its own later commands.
 */
function script(lines: string[]): string {
  return ['(', 'set -euo pipefail', ...lines, ')'].join('\n');
}
