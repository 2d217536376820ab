import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { encodeResolvedConfig } from '../src/config/resolved.js';
import { startLocalDynamo } from '../src/local-mode/dynalite.js';
import { median, pushHeaders, pushPayload, round } from './common.js';
import { BENCH_CONFIG_YAML } from './intake.js';

/**
 * Part 3: cold start of the bundled webhook function. Each sample is a fresh `node` process that imports
 * the bundle and handles one signed push through the Function URL event shape, with the AWS SDK pointed
 * at local stand-ins through the SDK's own service endpoint variables (AWS_ENDPOINT_URL_DYNAMODB,
 * AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL_SECRETS_MANAGER: the function needs no code for this):
 * dynalite for DynamoDB and a loopback fake speaking the JSON protocols of StartExecution and
 * GetSecretValue. Lambda's own sandbox start is not included; a bare `node` start is measured beside it.
 */

const CHILD = fileURLToPath(new URL('./cold-start-child.mjs', import.meta.url));
const SECRET = 'bench-webhook-secret';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:tfgate/webhook-AbCdEf';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:tfgate-pipeline';

export interface ColdStartFigures {
  samples: number;
  /** Spawn of the process to the handler's response, median. */
  coldStartMs: number;
  importMs: number;
  handlerMs: number;
  nodeStartMs: number;
  /** Importing the four AWS SDK packages alone (Lambda's runtime loads the same ones): part of importMs. */
  sdkImportMs: number;
  calls: Record<string, number>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function startAwsFake(calls: Record<string, number>): Promise<Server> {
  const server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const target = String(request.headers['x-amz-target'] ?? '');
      calls[target] = (calls[target] ?? 0) + 1;
      const input = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      if (target === 'AWSStepFunctions.StartExecution') {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(
          JSON.stringify({
            executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${String(input.name)}`,
            startDate: Date.now() / 1000,
          }),
        );
      } else if (target === 'secretsmanager.GetSecretValue') {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(
          JSON.stringify({
            ARN: SECRET_ARN,
            Name: 'tfgate/webhook',
            VersionId: 'v1',
            SecretString: JSON.stringify({ current: SECRET }),
            CreatedDate: Date.now() / 1000,
          }),
        );
      } else {
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(
          JSON.stringify({ __type: 'UnknownOperationException', message: `the bench fake does not know ${target}` }),
        );
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function runChild(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ wallMs: number; stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answeredAt: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (answeredAt === undefined && stdout.includes('BENCH_RESULT ')) answeredAt = performance.now();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ wallMs: (answeredAt ?? performance.now()) - started, stdout, stderr, code }));
  });
}

export async function benchColdStart(bundleFile: string, samples = 10): Promise<ColdStartFigures> {
  const dynamo = await startLocalDynamo();
  const calls: Record<string, number> = {};
  const fake = await startAwsFake(calls);
  const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  try {
    const baseEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SFN: fakeUrl,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: fakeUrl,
      // Lambda's Node runtime prints nothing of the kind; the warning would only add noise here.
      NODE_NO_WARNINGS: '1',
      RUNS_TABLE: dynamo.tables.runs,
      LOCKS_TABLE: dynamo.tables.locks,
      DELIVERIES_TABLE: dynamo.tables.deliveries,
      STATE_MACHINE_ARN,
      WEBHOOK_SECRET_ARN: SECRET_ARN,
      CONFIG: encodeResolvedConfig(parseConfig(BENCH_CONFIG_YAML)),
    };
    const body = JSON.stringify(pushPayload('acme/infrastructure'));
    const nodeStarts: number[] = [];
    const colds: number[] = [];
    const imports: number[] = [];
    const handlers: number[] = [];
    const sdkImports: number[] = [];
    // One unmeasured round warms the file system cache, as a provisioned Lambda host would have it.
    for (let i = -1; i < samples; i++) {
      const bare = await runChild(['-e', 'process.stdout.write("BENCH_RESULT {}\\n")'], { PATH: process.env.PATH });
      const event = {
        rawPath: '/webhook',
        rawQueryString: '',
        headers: pushHeaders(body, SECRET, 'push', randomUUID()),
        body,
        isBase64Encoded: false,
        requestContext: { http: { method: 'POST' } },
      };
      const result = await runChild([CHILD, bundleFile], { ...baseEnv, BENCH_EVENT: JSON.stringify(event) });
      const line = result.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (result.code !== 0 || !line)
        throw new Error(`the cold start child failed (${result.code}):\n${result.stderr}\n${result.stdout}`);
      const parsed = JSON.parse(line.slice('BENCH_RESULT '.length)) as {
        importMs: number;
        handlerMs: number;
        statusCode: number;
        body: string;
      };
      if (parsed.statusCode !== 202 || !parsed.body.includes('runId'))
        throw new Error(`the bundled handler answered ${parsed.statusCode} ${parsed.body}`);
      const sdk = await runChild([CHILD, '--sdk-only'], { PATH: process.env.PATH, NODE_NO_WARNINGS: '1' });
      const sdkLine = sdk.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (i < 0) continue;
      if (sdkLine)
        sdkImports.push((JSON.parse(sdkLine.slice('BENCH_RESULT '.length)) as { importMs: number }).importMs);
      nodeStarts.push(bare.wallMs);
      colds.push(result.wallMs);
      imports.push(parsed.importMs);
      handlers.push(parsed.handlerMs);
    }
    return {
      samples,
      coldStartMs: round(median(colds), 1),
      importMs: round(median(imports), 1),
      handlerMs: round(median(handlers), 1),
      nodeStartMs: round(median(nodeStarts), 1),
      sdkImportMs: round(median(sdkImports), 1),
      calls,
    };
  } finally {
    await new Promise((resolve) => fake.close(resolve));
    await dynamo.close();
  }
}

export interface FunctionColdStart {
  /** What one sample does after the import: the request it answers, or nothing (`import only`). */
  measures: string;
  coldStartMs: number;
  importMs: number;
  handlerMs: number;
}

/**
 * The other functions, each a fresh process too. The approvals function answers GET /healthz through
 * its sign-in gate (which fetches the session key); the state machine's tasks, the approval request
 * and the reconciler need a run or a schedule to act on, so for them a sample is the import alone:
 * what Lambda's init phase runs before the first event.
 */
export async function benchOtherColdStarts(
  bundles: Record<string, string>,
  samples: number,
): Promise<Record<string, FunctionColdStart>> {
  const calls: Record<string, number> = {};
  const fake = await startAwsFake(calls);
  const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: fakeUrl,
    AWS_ENDPOINT_URL_SFN: fakeUrl,
    NODE_NO_WARNINGS: '1',
    RUNS_TABLE: 'runs',
    LOCKS_TABLE: 'locks',
    APPROVALS_TABLE: 'approvals',
    DELIVERIES_TABLE: 'deliveries',
    ARTIFACTS_BUCKET: 'bench-artifacts',
    APPROVALS_URL: 'https://approvals.example.com',
    STATE_MACHINE_ARN,
    SESSION_SECRET_ARN: SECRET_ARN,
    CONFIG: encodeResolvedConfig(parseConfig(BENCH_CONFIG_YAML)),
  };
  const healthz = {
    rawPath: '/healthz',
    rawQueryString: '',
    headers: { host: 'approvals.example.com' },
    isBase64Encoded: false,
    requestContext: { http: { method: 'GET' } },
  };
  const figures: Record<string, FunctionColdStart> = {};
  try {
    for (const [name, bundle] of Object.entries(bundles)) {
      const event = name === 'approvals' ? healthz : undefined;
      const colds: number[] = [];
      const imports: number[] = [];
      const handlers: number[] = [];
      for (let i = -1; i < samples; i++) {
        const result = await runChild([CHILD, bundle], {
          ...env,
          ...(event ? { BENCH_EVENT: JSON.stringify(event) } : {}),
        });
        const line = result.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
        if (result.code !== 0 || !line)
          throw new Error(`the ${name} cold start child failed (${result.code}):\n${result.stderr}\n${result.stdout}`);
        const parsed = JSON.parse(line.slice('BENCH_RESULT '.length)) as {
          importMs: number;
          handlerMs: number;
          statusCode?: number;
        };
        if (event && parsed.statusCode !== 200)
          throw new Error(`the bundled ${name} function answered ${parsed.statusCode}`);
        if (i < 0) continue;
        colds.push(result.wallMs);
        imports.push(parsed.importMs);
        handlers.push(parsed.handlerMs);
      }
      figures[name] = {
        measures: event ? 'GET /healthz' : 'import only',
        coldStartMs: round(median(colds), 1),
        importMs: round(median(imports), 1),
        handlerMs: round(median(handlers), 1),
      };
    }
  } finally {
    await new Promise((resolve) => fake.close(resolve));
  }
  return figures;
}

export const BENCH_DIR = path.dirname(CHILD);
