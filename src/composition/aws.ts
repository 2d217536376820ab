import type { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TfgateConfig } from '../config/load.js';
import type { RetryPolicy } from '../domain/feedback.js';
import {
  systemClock,
  type ArtifactStore,
  type Clock,
  type CommitHistory,
  type Notifier,
  type RunStore,
  type TaskCallbacks,
  type VcsClient,
} from '../domain/ports.js';
import { trackRuns, type RunTracking } from '../domain/run-tracking.js';
import { DynamoRunStore } from '../adapters/dynamo/run-store.js';
import { DynamoDeploymentLedger } from '../adapters/dynamo/ledger-store.js';
import type { ChangeDeps } from '../application/change.js';
import { requireEnv, optionalEnv } from '../env.js';
import { DeferredVcsClient } from '../adapters/github/deferred.js';
import { GITHUB_FEEDBACK_OFF, NoopVcsClient } from '../adapters/github/noop.js';
import { configFromEnv } from '../adapters/aws/lambda-env.js';
import { powertoolsLog, type LogFunction } from '../adapters/aws/log.js';
import { artifactLocation, type S3Location } from '../adapters/aws/s3-location.js';
import { SfnTaskCallbacks } from '../adapters/aws/sfn.js';

/**
 * The AWS composition root: what every Lambda entry (`lambdas/*\/lambda.ts`) builds from its environment.
 * Each part is built on first use and once per instance. Clients only some functions use are not
 * imported here: S3 comes in through `artifactStore` from the entries that read artifacts, and the
 * GitHub client's module is evaluated only when the first status is sent (the webhook's cold start is
 * measured in bench/).
 *
 * The run store and the task callbacks go through `trackRuns`, the same decoration `tfgate local`
 * uses: GitHub feedback rides on the store, and a lock grant records the waiting stage as planning.
 */

export interface AwsCompositionOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  secretsManager?: SecretsManagerClient;
  /** Tests: a VcsClient instead of the one from GITHUB_SECRET_ARN. */
  vcs?: VcsClient;
  /** Tests: the Lambda client that asks the token function (GITHUB_MINTER_FUNCTION) for installation tokens. */
  lambda?: LambdaClient;
  artifacts?: ArtifactStore;
  /** How the entry reaches the artifact bucket (S3ArtifactStore); without one, artifacts are off. */
  artifactStore?: (location: S3Location) => ArtifactStore;
  clock?: Clock;
  log?: LogFunction;
}

export interface RunTrackingSettings {
  /** Drift notices; without one they go to the function's log. */
  notifier?: Notifier;
  retry?: Partial<RetryPolicy>;
}

export class AwsComposition<K extends string> {
  readonly env: Record<K, string>;
  readonly config: TfgateConfig;
  readonly clock: Clock;
  readonly log: LogFunction;
  private readonly made = new Map<string, unknown>();
  private readonly optionalKeys: ReadonlySet<string>;

  /**
   * `keys`: what the function must be given; `optionalKeys`: what it may be given. Both are named in each
   * lambda.ts, the function's contract with the stack (test/infra checks them against what it passes).
   * A key in neither list reads as absent here, whatever the environment holds.
   */
  constructor(
    keys: readonly K[],
    optionalKeys: readonly string[],
    service: string,
    private readonly options: AwsCompositionOptions & { logLevel?: 'info' | 'warn' } = {},
  ) {
    this.optionalKeys = new Set(optionalKeys);
    // Missing keys and a bad CONFIG fail the cold start, naming what is wrong.
    this.env = requireEnv(keys, options.env);
    this.config = configFromEnv(this.table('CONFIG'));
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? powertoolsLog(service, options.logLevel);
  }

  optional(key: string): string | undefined {
    const required = (this.env as Record<string, string | undefined>)[key];
    if (required !== undefined) return required;
    return this.optionalKeys.has(key) ? optionalEnv(key, this.options.env) : undefined;
  }

  private once<T>(name: string, make: () => T): T {
    if (!this.made.has(name)) this.made.set(name, make());
    return this.made.get(name) as T;
  }

  get dynamo(): DynamoDBDocumentClient {
    return this.once(
      'dynamo',
      () =>
        this.options.dynamo ??
        DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    );
  }

  get sfn(): SFNClient {
    return this.once('sfn', () => this.options.sfn ?? new SFNClient({}));
  }

  get secretsManager(): SecretsManagerClient {
    return this.once('secretsManager', () => this.options.secretsManager ?? new SecretsManagerClient({}));
  }

  /** Where run pages are (APPROVALS_URL); undefined for a function not given it. */
  get publicUrl(): string | undefined {
    return this.optional('APPROVALS_URL')?.replace(/\/+$/, '');
  }

  runUrl(runId: string): string | undefined {
    const base = this.publicUrl;
    return base ? `${base}/runs/${encodeURIComponent(runId)}` : undefined;
  }

  /**
   * tfgate's GitHub client, from GITHUB_SECRET_ARN on first call. Without the secret, feedback is off
   * and the log says so once; the GitHub client's code is loaded only when something is sent.
   */
  get vcs(): VcsClient {
    return this.once('vcs', () => {
      if (this.options.vcs) return this.options.vcs;
      const secretId = this.optional('GITHUB_SECRET_ARN');
      // The public functions never read the GitHub secret: they ask the token function for an installation token.
      const tokenFunction = this.optional('GITHUB_MINTER_FUNCTION');
      if (tokenFunction && !secretId) {
        let resolve: Promise<VcsClient> | undefined;
        return new DeferredVcsClient(async () => {
          resolve ??= import('../adapters/github/minted.js').then((minted) =>
            minted.vcsFromTokenFunction({
              apiUrl: this.config.github.apiUrl,
              functionName: tokenFunction,
              ...(this.options.lambda ? { lambda: this.options.lambda } : {}),
            }),
          );
          return resolve;
        });
      }
      if (!secretId) {
        let said = false;
        return new DeferredVcsClient(async () => {
          if (!said) this.log(GITHUB_FEEDBACK_OFF);
          said = true;
          return new NoopVcsClient();
        });
      }
      let resolve: Promise<() => Promise<VcsClient>> | undefined;
      return new DeferredVcsClient(async () => {
        resolve ??= import('../adapters/github/secret.js').then((github) =>
          github.lazyVcsFromSecret({
            apiUrl: this.config.github.apiUrl,
            secretId,
            secretsManager: () => this.secretsManager,
            log: this.log,
          }),
        );
        return (await resolve)();
      });
    });
  }

  /**
   * The artifact bucket (ARTIFACTS_BUCKET, checked at first use) through the store the entry gave
   * (`artifactStore`: entries that read artifacts import the S3 client, the others never load it).
   * A function given no bucket or no store reads nothing and writes nothing.
   */
  get artifacts(): ArtifactStore {
    return this.once('artifacts', (): ArtifactStore => {
      if (this.options.artifacts) return this.options.artifacts;
      const bucket = this.optional('ARTIFACTS_BUCKET');
      if (!bucket || !this.options.artifactStore) return { put: async () => undefined, get: async () => undefined };
      return this.options.artifactStore(artifactLocation(bucket));
    });
  }

  /** Task callbacks to the state machine, undecorated: `tracking()` gives the ones that record grants. */
  get sfnCallbacks(): TaskCallbacks {
    return this.once('sfnCallbacks', () => new SfnTaskCallbacks(this.sfn));
  }

  /** RUNS_TABLE, as written by this function: through GitHub feedback, with grant-recording callbacks. */
  tracking(settings: RunTrackingSettings = {}): RunTracking {
    return this.once('tracking', () => {
      const notifier: Notifier = settings.notifier ?? {
        approvalRequested: async () => undefined,
        runNotice: async (run, message, runUrl) =>
          this.log('run notice', { runId: run.id, repository: run.repository, message, runUrl }),
      };
      return trackRuns(this.plainRuns(), this.sfnCallbacks, {
        vcs: this.vcs,
        artifacts: this.artifacts,
        notifier,
        runUrl: (id) => this.runUrl(id),
        clock: this.clock,
        ...(settings.retry ? { retry: settings.retry } : {}),
        log: this.log,
      });
    });
  }

  /**
   * What a change is (src/application/change.ts): GitHub's history through tfgate's credentials and the deployment
   * ledger in LOCKS_TABLE.
   */
  change(): ChangeDeps {
    return this.once('change', () => ({
      config: this.config,
      history: this.vcs as VcsClient & CommitHistory,
      ledger: new DynamoDeploymentLedger(this.dynamo, this.table('LOCKS_TABLE')),
    }));
  }

  /** The runs table without feedback: for functions that only read runs or record decisions (approvals). */
  plainRuns(): RunStore {
    return this.once('plainRuns', () => new DynamoRunStore(this.dynamo, this.table('RUNS_TABLE')));
  }

  /** A table name from the environment; a key the entry did not require is checked here, by name. */
  table(key: string): string {
    const known = (this.env as Record<string, string | undefined>)[key];
    return known ?? (requireEnv([key], this.options.env) as Record<string, string>)[key]!;
  }
}
