import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { BuildKind } from '../src/domain/builds.js';

/** Where builds put artifacts: `s3://<bucket>/artifacts/runs/<runId>/<environment>/…`. */
export const ARTIFACTS_PREFIX = 'artifacts';

import { STATE_ENVIRONMENTS_PREFIX } from '../src/build-runner/managed-state.js';

/**
 * Plans, plan texts and summaries. Saved plans can hold sensitive values from the Terraform state,
 * so the bucket is private, TLS-only, and keeps them for a bounded time.
 */
export class ArtifactStorage extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  /**
   * Terraform state of every root that declares no backend of its own (`<owner>/<name>/<stack>/<environment>/`).
   * Versioned (a bad apply's state can be rolled back), never expired, kept when the stack goes.
   */
  readonly stateBucket: s3.Bucket;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // Server access log delivery only writes to buckets encrypted with S3-managed keys.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    this.bucket = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'artifacts-bucket/',
      // Kept when the stack is deleted (plans and the terraform cache), removed if its first create rolls back.
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      lifecycleRules: [
        {
          expiration: Duration.days(90),
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    this.stateBucket = new s3.Bucket(this, 'State', {
      // SSE-S3 rather than a KMS key: no monthly key cost and no key policy to get wrong; access is by IAM.
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'state-bucket/',
      // State must outlive everything: kept on destroy, on replacement and on a rolled-back first create
      // alike (an empty bucket costs nothing).
      removalPolicy: RemovalPolicy.RETAIN,
      // Old state versions are the way back from a bad apply: a year of them; current versions forever.
      lifecycleRules: [
        { noncurrentVersionExpiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  /**
   * `env/<environment>/*`: one environment's state, lock files and apply records, of every root. The
   * environment comes first so that no repository, directory or other environment name can match it.
   */
  environmentStateArn(environment: string): string {
    return this.stateBucket.arnForObjects(`${STATE_ENVIRONMENTS_PREFIX}/${environment}/*`);
  }

  /**
   * `artifacts/runs/*\/<environment>/<kind>/*`: one kind of build's objects in one environment (each
   * build role writes only there), or every run's artifacts.
   */
  runObjectsArn(environment?: string, kind?: BuildKind): string {
    if (environment === undefined) return this.bucket.arnForObjects(`${ARTIFACTS_PREFIX}/runs/*`);
    return this.bucket.arnForObjects(`${ARTIFACTS_PREFIX}/runs/*/${environment}/${kind ?? '*'}/*`);
  }

  /** `artifacts/sources/*`: commit archives, written by the pipeline function only, read by builds. */
  sourceObjectsArn(): string {
    return this.bucket.arnForObjects(`${ARTIFACTS_PREFIX}/sources/*`);
  }

  /**
   * `artifacts/views/*`: what the pipeline function derives from a stage's artifacts (the structured plan
   * view); no build role may write there.
   */
  viewObjectsArn(): string {
    return this.bucket.arnForObjects(`${ARTIFACTS_PREFIX}/views/*`);
  }

  grantReadRuns(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.runObjectsArn(), this.viewObjectsArn()] }),
    );
    this.grantMissingIsNotFound(role);
  }

  /**
   * Without s3:ListBucket, S3 answers a GetObject for a missing key with 403 instead of 404, and the
   * artifact store could not tell "no plan yet" from "not allowed".
   */
  grantMissingIsNotFound(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
  }

  artifactsUrl(): string {
    return `s3://${this.bucket.bucketName}/${ARTIFACTS_PREFIX}`;
  }
}
