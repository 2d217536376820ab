#!/usr/bin/env node
// The published entry point. The CLI is TypeScript; tsx compiles it on load so `npx tfgate`
// works straight after `npm install`, with no separate build step to forget.
import { register } from 'tsx/esm/api';

// Local mode talks to dynalite through the AWS SDK on this machine's Node; the SDK's notice about
// its future Node 22 requirement concerns the Lambdas (which run Node 22), not this process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./cli.ts');
