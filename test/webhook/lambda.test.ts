import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { MissingEnvironmentError } from '../../src/env.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import {
  createFunctionUrlHandler,
  parseWebhookSecrets,
  toHttpRequest,
  type FunctionUrlEvent,
  type WebhookLambdaOptions,
} from '../../lambdas/webhook/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { RecordingLogger } from './fakes.js';
import { newDeliveryId, ping, PREVIOUS_SECRET, pushToMaster, SECRET, signatureOf } from './fixtures.js';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:tfgate-pipeline';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate/webhook-AbCdEf';
const CONFIG_YAML = `repositories:
  - name: Codertocat/Hello-World
    branch: master
    environments:
      - name: ops
      - name: apps
        approval:
          approvers: [alice@example.com]
`;

const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
let dynamo: TestDynamo;
let logger: RecordingLogger;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});
beforeEach(() => {
  logger = new RecordingLogger();
  secretsManager
    .on(GetSecretValueCommand, { SecretId: SECRET_ARN })
    .resolves({ SecretString: JSON.stringify({ current: SECRET, previous: PREVIOUS_SECRET }) });
  sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:tfgate-pipeline:${input.name}`,
    startDate: new Date(),
  }));
});
afterEach(() => {
  sfn.reset();
  secretsManager.reset();
});

function environment(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    RUNS_TABLE: dynamo.tables.runs,
    LOCKS_TABLE: dynamo.tables.locks,
    APPROVALS_TABLE: dynamo.tables.approvals,
    DELIVERIES_TABLE: dynamo.tables.deliveries,
    STATE_MACHINE_ARN: STATE_MACHINE,
    WEBHOOK_SECRET_ARN: SECRET_ARN,
    // What the CDK stack does with the file: validated and resolved at synth.
    CONFIG: encodeResolvedConfig(parseConfig(CONFIG_YAML)),
    ...overrides,
  };
}

function lambda(options: Partial<WebhookLambdaOptions> = {}) {
  return createFunctionUrlHandler({ env: environment(), dynamo: dynamo.doc, logger, ...options });
}

function functionUrlEvent(
  event: string,
  payload: unknown,
  options: { secret?: string; deliveryId?: string; base64?: boolean } = {},
): FunctionUrlEvent {
  const body = Buffer.from(JSON.stringify(payload));
  return {
    rawPath: '/webhook',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': options.deliveryId ?? newDeliveryId(),
      'x-hub-signature-256': signatureOf(body, options.secret ?? SECRET),
    },
    body: options.base64 ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: options.base64 ?? false,
    requestContext: { http: { method: 'POST' } },
  };
}

describe('function URL translation', () => {
  it('turns a payload 2.0 event into the shared request shape', () => {
    const request = toHttpRequest({
      rawPath: '/webhook',
      rawQueryString: 'a=1&b=two%20words',
      headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'ping' },
      body: Buffer.from('{"zen":"é"}').toString('base64'),
      isBase64Encoded: true,
      requestContext: { http: { method: 'POST' } },
    });
    expect(request).toEqual({
      method: 'POST',
      path: '/webhook',
      query: { a: '1', b: 'two words' },
      headers: { 'content-type': 'application/json', 'x-github-event': 'ping' },
      body: Buffer.from('{"zen":"é"}'),
    });
    expect(toHttpRequest({ rawPath: '/webhook', requestContext: { http: { method: 'GET' } } }).body).toEqual(
      Buffer.alloc(0),
    );
  });

  it('starts a run through Step Functions and answers in the function URL shape', async () => {
    const deliveryId = newDeliveryId();
    const result = await lambda()(functionUrlEvent('push', pushToMaster(), { deliveryId, base64: true }));

    expect(result.statusCode).toBe(202);
    expect(result.isBase64Encoded).toBe(false);
    expect(result.headers['content-type']).toMatch(/^application\/json/);
    const { runId } = JSON.parse(result.body) as { runId: string };
    const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(start.stateMachineArn).toBe(STATE_MACHINE);
    expect(start.name).toBe(`gh-${deliveryId}`);
    expect(JSON.parse(start.input!)).toMatchObject({
      runId,
      mode: 'deploy',
      repository: 'Codertocat/Hello-World',
      environmentCount: 2,
    });
    expect(await dynamo.stores.runs.get(runId)).toMatchObject({ status: 'running', executionName: `gh-${deliveryId}` });
    const queue = await dynamo.stores.locks.listQueue(lockKeyFor('Codertocat/Hello-World', 'apps'));
    expect(queue.map((entry) => entry.runId)).toContain(runId);
  });

  it('answers ping from a text body', async () => {
    const result = await lambda()(functionUrlEvent('ping', ping()));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ ok: true });
  });
});

describe('webhook secrets from Secrets Manager', () => {
  it('accepts the current and the previous secret, and nothing else', async () => {
    const handle = lambda();
    expect((await handle(functionUrlEvent('ping', ping(), { secret: SECRET }))).statusCode).toBe(200);
    expect((await handle(functionUrlEvent('ping', ping(), { secret: PREVIOUS_SECRET }))).statusCode).toBe(200);
    expect((await handle(functionUrlEvent('ping', ping(), { secret: 'other' }))).statusCode).toBe(401);
  });

  it('reads a plain-string secret', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'just-the-secret' });
    const handle = lambda();
    expect((await handle(functionUrlEvent('ping', ping(), { secret: 'just-the-secret' }))).statusCode).toBe(200);
    expect((await handle(functionUrlEvent('ping', ping(), { secret: SECRET }))).statusCode).toBe(401);
  });

  it('fetches the secret once per instance and again after five minutes, picking up a rotation', async () => {
    let now = new Date('2025-01-01T00:00:00Z');
    const handle = lambda({ clock: { now: () => now } });
    await Promise.all([handle(functionUrlEvent('ping', ping())), handle(functionUrlEvent('ping', ping()))]);
    await handle(functionUrlEvent('ping', ping()));
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);

    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ current: 'rotated', previous: SECRET }) });
    now = new Date(now.getTime() + 5 * 60 * 1000 + 1);
    expect((await handle(functionUrlEvent('ping', ping(), { secret: 'rotated' }))).statusCode).toBe(200);
    expect((await handle(functionUrlEvent('ping', ping(), { secret: PREVIOUS_SECRET }))).statusCode).toBe(401);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('answers 500 when the secret cannot be read, and tries again on the next request', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: 'no such secret', $metadata: {} }))
      .resolves({ SecretString: SECRET });
    const handle = lambda();
    expect((await handle(functionUrlEvent('ping', ping()))).statusCode).toBe(500);
    expect((await handle(functionUrlEvent('ping', ping()))).statusCode).toBe(200);
  });

  it.each([
    ['{"current":"a","previous":"b"}', ['a', 'b']],
    ['{"current":"a"}', ['a']],
    ['{"current":"a","previous":"a"}', ['a']],
    ['plain secret', ['plain secret']],
    ['"quoted"', ['"quoted"']],
  ])('parses %s', (secretString, expected) => {
    expect(parseWebhookSecrets(secretString)).toEqual(expected);
  });

  it('refuses a JSON secret without "current"', () => {
    expect(() => parseWebhookSecrets('{"previous":"b"}')).toThrow(/current/);
  });
});

describe('Step Functions outcomes', () => {
  it('answers a twin execution as a duplicate delivery', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    // A commit no run has claimed yet: only the execution name refuses the twin.
    const result = await lambda()(
      functionUrlEvent('push', Object.assign(pushToMaster(), { after: randomBytes(20).toString('hex') })),
    );
    expect(result.statusCode).toBe(202);
    expect(JSON.parse(result.body)).toEqual({ ignored: 'duplicate delivery' });
  });

  it('answers 500 and releases the delivery when StartExecution fails', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));
    const deliveryId = newDeliveryId();
    const result = await lambda()(
      functionUrlEvent('push', Object.assign(pushToMaster(), { after: randomBytes(20).toString('hex') }), {
        deliveryId,
      }),
    );
    expect(result.statusCode).toBe(500);
    const { runId } = JSON.parse(result.body) as { runId: string };
    expect((await dynamo.stores.runs.get(runId))?.status).toBe('failed');
    expect(await dynamo.stores.deliveries.get(deliveryId)).toBeUndefined();
  });
});

describe('environment', () => {
  it('names every missing variable at start', () => {
    expect(() =>
      createFunctionUrlHandler({ env: environment({ STATE_MACHINE_ARN: undefined, CONFIG: '' }), logger }),
    ).toThrow(MissingEnvironmentError);
    expect(() =>
      createFunctionUrlHandler({ env: environment({ STATE_MACHINE_ARN: undefined, CONFIG: '' }), logger }),
    ).toThrow(/STATE_MACHINE_ARN, CONFIG/);
  });

  it('takes only the resolved configuration the stack writes, and refuses anything else naming the field', async () => {
    expect((await lambda()(functionUrlEvent('ping', ping()))).statusCode).toBe(200);
    // The file's text would need the YAML parser and the full schema in the bundle: the synth resolves it instead.
    expect(() =>
      createFunctionUrlHandler({ env: environment({ CONFIG: JSON.stringify(CONFIG_YAML) }), logger }),
    ).toThrow(/CONFIG is not a JSON object/);
    const resolved = JSON.parse(encodeResolvedConfig(parseConfig(CONFIG_YAML))) as {
      repositories: Array<{ name: string }>;
    };
    resolved.repositories[0]!.name = 'Codertocat/Hello World; rm -rf /';
    expect(() => createFunctionUrlHandler({ env: environment({ CONFIG: JSON.stringify(resolved) }), logger })).toThrow(
      /repositories\.0\.name: must be owner\/name/,
    );
  });
});
