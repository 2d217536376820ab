/**
 * `import { Tfgate } from 'tfgate/cdk'`: tfgate as a construct in a user's own CDK app.
 * aws-cdk-lib and constructs are the app's own (peer dependencies).
 */
export { Tfgate, type TfgateParts, type TfgateProps } from './tfgate.js';
export { TfgateStack, type TfgateStackProps } from './tfgate-stack.js';
export type { TfgateSettings } from './config.js';
export { ConfigError, type ConfigProblem, type TfgateConfig } from '../src/config/load.js';
export type { FunctionName } from './functions.js';
export type { TableRole } from '../src/adapters/dynamo/table-layout.js';
