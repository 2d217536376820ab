import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { toFunctionUrlResult, toHttpRequest, type FunctionUrlEvent, type FunctionUrlResult } from '../core/aws/function-url.js';
import { artifactLocation, CachedSecret } from '../core/aws/lambda-env.js';
import { S3ArtifactStore } from '../core/aws/s3-artifact-store.js';
import { SfnTaskCallbacks } from '../core/aws/sfn.js';
import { systemClock, type ArtifactStore, type Clock } from '../core/domain/ports.js';
import { documentClientFor, DynamoApprovalStore, DynamoRunStore } from '../core/dynamo/index.js';
import { requireEnv } from '../core/env.js';
import { html, type HttpHandler } from '../core/http.js';
import { createApprovalsHandler } from './handler.js';
import { decisionPage } from './pages.js';
import { powertoolsLog } from '../core/aws/log.js';

/**
 * The AWS entry of the approvals function URL: approval pages and decisions, run pages, /healthz.
 * A decision resumes the waiting execution with SendTaskSuccess / SendTaskFailure.
 */

export interface ApprovalsLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  s3?: S3Client;
  sfn?: SFNClient;
  secretsManager?: SecretsManagerClient;
  artifacts?: ArtifactStore;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

// The function reads and decides approvals only; locks change through the state machine's own tasks.
const REQUIRED = ['RUNS_TABLE', 'APPROVALS_TABLE', 'ARTIFACTS_BUCKET', 'LINK_SECRET_ARN'] as const;

export function createApprovalsLambda(options: ApprovalsLambdaOptions = {}): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const env = requireEnv(REQUIRED, options.env);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? powertoolsLog('tfgate-approvals');
  const dynamo = options.dynamo ?? documentClientFor(new DynamoDBClient({}));
  const linkKey = new CachedSecret(options.secretsManager ?? new SecretsManagerClient({}), env.LINK_SECRET_ARN, clock, 'link key', (text) => text.trim());
  const deps = {
    runs: new DynamoRunStore(dynamo, env.RUNS_TABLE),
    approvals: new DynamoApprovalStore(dynamo, env.APPROVALS_TABLE),
    artifacts: options.artifacts ?? new S3ArtifactStore(options.s3 ?? new S3Client({}), artifactLocation(env.ARTIFACTS_BUCKET)),
    callbacks: new SfnTaskCallbacks(options.sfn ?? new SFNClient({})),
    clock,
    log,
  };
  let built: { key: string; handler: HttpHandler } | undefined;

  return async (event) => {
    const request = toHttpRequest(event);
    let key: string;
    try {
      key = await linkKey.get();
    } catch (error) {
      log('link key unavailable', { error: error instanceof Error ? error.message : String(error) });
      return toFunctionUrlResult(html(503, decisionPage('bad', 'Unavailable', 'tfgate cannot check approval links right now. Try again in a minute.')), request.method);
    }
    if (!built || built.key !== key) built = { key, handler: createApprovalsHandler({ ...deps, linkKey: key }) };
    return toFunctionUrlResult(await built.handler(request), request.method);
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createApprovalsLambda();
  return instance(event);
}
