#!/usr/bin/env node
// The published entry point. The CLI is TypeScript; tsx compiles it on load so `npx tfgate`
// works straight after `npm install`, with no separate build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
