// One cold start, as Lambda's Node runtime does it: a fresh process imports the bundle, then the
// handler serves one event. Plain JavaScript on purpose: no TypeScript loader in the measured process.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [bundle] = process.argv.slice(2);
if (bundle === '--sdk-only') {
  // What the AWS SDK clients alone take to import: Lambda loads the same packages from its runtime.
  const start = performance.now();
  await Promise.all(
    ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/client-sfn', '@aws-sdk/client-secrets-manager'].map(
      (name) => import(name),
    ),
  );
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ importMs: performance.now() - start })}\n`);
  process.exit(0);
}
const event = process.env.BENCH_EVENT ? JSON.parse(process.env.BENCH_EVENT) : undefined;
const beforeImport = performance.now();
const module = await import(pathToFileURL(bundle).href);
const afterImport = performance.now();
// Without an event: the import alone (Lambda's init phase).
const result = event ? await module.handler(event) : { statusCode: 0, body: '' };
const afterHandler = performance.now();
// The function logs JSON lines to stdout too; the marker tells this line apart.
const measured = {
  beforeImport,
  importMs: afterImport - beforeImport,
  handlerMs: afterHandler - afterImport,
  sinceProcessStartMs: afterHandler,
  statusCode: result.statusCode,
  body: result.body,
};
process.stdout.write(`BENCH_RESULT ${JSON.stringify(measured)}\n`);
process.exit(0);
