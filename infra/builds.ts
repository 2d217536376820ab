import path from 'node:path';
import { Annotations, AssetHashType, Aws, BundlingOutput, DockerImage, Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { buildSync } from 'esbuild';
import { Construct } from 'constructs';
import type { TfgateConfig } from '../lambdas/core/config/load.js';
import { BUILD_KINDS, buildProjectName, type BuildKind } from '../lambdas/core/domain/builds.js';
import { PROJECT_ROOT } from './functions.js';
import { pascalId, type BuildEnvironment } from './naming.js';
import type { ArtifactStorage } from './storage.js';

/** Everything tfgate keeps on the build host lives here; CodeBuild runs builds as root. */
const TFGATE_HOME = '/root/.tfgate';
const PLUGIN_CACHE_DIR = `${TFGATE_HOME}/plugin-cache`;
const DOWNLOADS_DIR = `${TFGATE_HOME}/downloads`;
const TERRAFORM_BIN = `${TFGATE_HOME}/bin/terraform`;
/** Runs terraform as the environment's role while the runner itself keeps the project role. */
const TERRAFORM_AS_TARGET = `${TFGATE_HOME}/bin/terraform-as-target`;
const RUNNER_FILE = `${TFGATE_HOME}/runner.mjs`;

// CodeBuild accepts 5 minutes to 36 hours.
const MIN_BUILD_MINUTES = 5;
const MAX_BUILD_MINUTES = 36 * 60;

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
    const { planSeconds, applySeconds } = props.config.timeouts;
    const wantedMinutes = Math.ceil(Math.max(planSeconds, applySeconds) / 60);
    const timeoutMinutes = Math.min(Math.max(wantedMinutes, MIN_BUILD_MINUTES), MAX_BUILD_MINUTES);
    if (timeoutMinutes !== wantedMinutes) {
      Annotations.of(this).addWarningV2(
        'tfgate:buildTimeout',
        `the plan/apply timeout of ${wantedMinutes} minutes is outside what CodeBuild allows; builds stop after ${timeoutMinutes} minutes`,
      );
    }

    this.builds = props.environments.flatMap((environment) => {
      const envId = pascalId(environment.name);
      if (ids.has(envId)) {
        throw new Error(`environment names that differ only in "-" or "_" (${environment.name}) cannot be told apart in the stack; rename one`);
      }
      ids.add(envId);
      return BUILD_KINDS.map((kind) => this.build(props, environment, envId, kind, timeoutMinutes));
    });
  }

  private build(props: TfgateBuildsProps, environment: BuildEnvironment, envId: string, kind: BuildKind, timeoutMinutes: number): EnvironmentBuild {
    const id = `${envId}${KIND_IDS[kind]}`;
    const role = new iam.Role(this, `${id}BuildRole`, {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: `tfgate ${kind} builds for the ${environment.name} environment`,
    });
    const logGroup = new logs.LogGroup(this, `${id}BuildLogs`, { retention: logs.RetentionDays.ONE_YEAR });
    logGroup.grantWrite(role);
    // Writes only under its own kind's prefix: a pull-request plan cannot touch what a deploy run reads.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [props.storage.runObjectsArn(environment.name, kind)],
      }),
    );
    // Reads the source archives the pipeline stored; the apply also reads its run's deploy plan.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.storage.sourceObjectsArn(), ...(kind === 'apply' ? [props.storage.runObjectsArn(environment.name, 'plan')] : [])],
      }),
    );
    props.storage.grantMissingIsNotFound(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${this.runner.s3BucketName}/${this.runner.s3ObjectKey}`],
      }),
    );
    const assumes = kind === 'apply' ? environment.roleArn : environment.planRoleArn;
    if (assumes) role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [assumes] }));
    const missingRole = kind === 'apply' ? undefined : assumes ? undefined : `no planRoleArn is configured for ${environment.name}: this plan runs with the build's own role, which reads nothing but tfgate's artifacts`;

    const project = new codebuild.Project(this, `${id}Build`, {
      projectName: buildProjectName(props.projectPrefix, environment.name, kind),
      description: `tfgate: ${KIND_PURPOSE[kind]} for the ${environment.name} environment`,
      // The role above is the whole policy; the construct would otherwise add report-group and
      // default log-group permissions this project never uses.
      role: role.withoutPolicyUpdates(),
      environment: {
        buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
        environmentVariables: {
          TFGATE_BUILD_KIND: { value: kind },
          TFGATE_ARTIFACTS: { value: props.storage.artifactsUrl() },
          TFGATE_RUNNER_URL: { value: this.runner.s3ObjectUrl },
          TFGATE_TERRAFORM: { value: assumes ? TERRAFORM_AS_TARGET : TERRAFORM_BIN },
          ...(assumes ? { TFGATE_ASSUME_ROLE_ARN: { value: assumes } } : {}),
          ...(missingRole ? { TFGATE_ROLE_NOTICE: { value: missingRole } } : {}),
        },
      },
      buildSpec: buildSpec(props.config.terraform.version, assumes !== undefined),
      cache: codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM),
      timeout: Duration.minutes(timeoutMinutes),
      logging: { cloudWatch: { logGroup } },
    });
    return { environment, kind, project, role, ...(assumes ? { assumes } : {}) };
  }
}

/** The build runner as one ESM file: the build host has Node 22 and nothing of tfgate's dependencies. */
function bundleRunner(scope: Construct): s3assets.Asset {
  const sourceDir = path.join(PROJECT_ROOT, 'lambdas', 'build-runner');
  return new s3assets.Asset(scope, 'Runner', {
    path: sourceDir,
    // Hash what was built, so a change in a shared module or a dependency changes the asset too.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never pulled: local bundling either succeeds or throws, and this machine has no Docker.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
      outputType: BundlingOutput.SINGLE_FILE,
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync({
            entryPoints: [path.join(sourceDir, 'main.ts')],
            outfile: path.join(outputDir, 'runner.mjs'),
            bundle: true,
            platform: 'node',
            target: 'node22',
            format: 'esm',
            minify: true,
            mainFields: ['module', 'main'],
            banner: {
              js: "import { createRequire as __tfgateCreateRequire } from 'node:module'; const require = __tfgateCreateRequire(import.meta.url);",
            },
            logLevel: 'error',
            absWorkingDir: PROJECT_ROOT,
          });
          return true;
        },
      },
    },
  });
}

function buildSpec(terraformVersion: string, assumesRole: boolean): codebuild.BuildSpec {
  const zip = `terraform_${terraformVersion}_linux_arm64.zip`;
  const sums = `terraform_${terraformVersion}_SHA256SUMS`;
  const base = `https://releases.hashicorp.com/terraform/${terraformVersion}`;
  const installTerraform = [
    `mkdir -p "${TFGATE_HOME}/bin" "${PLUGIN_CACHE_DIR}" "${DOWNLOADS_DIR}"`,
    `cd "${DOWNLOADS_DIR}"`,
    // The sums are fetched every time; only the zip may come from the local cache, and it is checked
    // against fresh sums before use, so a damaged cached zip is replaced instead of trusted.
    `curl -fsSL --retry 3 -o "${sums}" "${base}/${sums}"`,
    `if [ -f "${zip}" ] && ! sha256sum -c --ignore-missing "${sums}" >/dev/null 2>&1; then rm -f "${zip}"; fi`,
    `[ -f "${zip}" ] || curl -fsSL --retry 3 -o "${zip}" "${base}/${zip}"`,
    `sha256sum -c --ignore-missing "${sums}"`,
    `unzip -o -q "${zip}" -d "${TFGATE_HOME}/bin"`,
    `"${TERRAFORM_BIN}" version`,
  ];

  // Terraform (and its S3 backend) reads the profile; the runner never does, so its artifact
  // uploads keep using the project role, and the SDK refreshes the assumed role on long applies.
  const targetProfile = [
    `session="tfgate-$(printf '%s' "\${TFGATE_RUN_ID:-build}" | tr -c 'A-Za-z0-9=,.@_-' '-' | cut -c1-50)"`,
    `printf '[profile tfgate-target]\\nrole_arn = %s\\ncredential_source = EcsContainer\\nrole_session_name = %s\\nregion = %s\\n' "$TFGATE_ASSUME_ROLE_ARN" "$session" "$AWS_REGION" > "${TFGATE_HOME}/aws-config"`,
    `printf '#!/bin/bash\\nexport AWS_CONFIG_FILE=${TFGATE_HOME}/aws-config AWS_PROFILE=tfgate-target\\nunset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN\\nexec ${TERRAFORM_BIN} "$@"\\n' > "${TERRAFORM_AS_TARGET}"`,
    `chmod 0755 "${TERRAFORM_AS_TARGET}"`,
    // Fail here, naming the role, rather than inside terraform with a generic credentials error.
    `AWS_CONFIG_FILE="${TFGATE_HOME}/aws-config" AWS_PROFILE=tfgate-target aws sts get-caller-identity --output text --query Arn || { echo "tfgate: cannot assume $TFGATE_ASSUME_ROLE_ARN: its trust policy must allow this build project's role" >&2; exit 1; }`,
  ];

  // No secret reaches a build: the source archive is already in S3 (the pipeline fetched it).
  const runTheRunner = [
    `exec node "${RUNNER_FILE}"`,
  ];

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
      install: {
        'runtime-versions': { nodejs: 22 },
        commands: [script(installTerraform)],
      },
      pre_build: {
        commands: [
          ...(assumesRole ? [script(targetProfile)] : []),
          `aws s3 cp --only-show-errors "$TFGATE_RUNNER_URL" "${RUNNER_FILE}"`,
        ],
      },
      build: {
        commands: [script(runTheRunner)],
      },
    },
    cache: { paths: [`${PLUGIN_CACHE_DIR}/**/*`, `${DOWNLOADS_DIR}/**/*`] },
  });
}

/**
 * One buildspec command per step list, run in a subshell: strict mode stops at the first failing
 * line, and does not leak into the shell CodeBuild keeps for its own later commands.
 */
function script(lines: string[]): string {
  return ['(', 'set -euo pipefail', ...lines, ')'].join('\n');
}
