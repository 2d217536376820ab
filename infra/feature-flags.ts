import { readFileSync } from 'node:fs';
import type { Construct } from 'constructs';
import { packageFile } from '../src/package-files.js';

/**
 * The CDK feature flags of this repository's cdk.json (shipped in the package), which every test and
 * `cdk synth` here runs with. A user's app may set other flags or none (an app without them fails on
 * the access-log bucket, for one); set on the construct's own node, where CDK looks first, they give
 * its resources the template tested here whatever the app around it sets.
 */
export function pinFeatureFlags(scope: Construct): void {
  const cdkJson = JSON.parse(readFileSync(packageFile('cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  for (const [flag, value] of Object.entries(cdkJson.context ?? {})) scope.node.setContext(flag, value);
}
