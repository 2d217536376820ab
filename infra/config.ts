import { isDeepStrictEqual } from 'node:util';
import { loadConfigFile, type TfgateConfig } from '../lambdas/core/config/load.js';
import { decodeResolvedConfig, encodeResolvedConfig } from '../lambdas/core/config/resolved.js';

export interface StackConfig {
  /** The validated configuration the stack is built from. */
  config: TfgateConfig;
  /**
   * What the functions receive in CONFIG: the configuration as validated and normalized here
   * (`TfgateConfig` as JSON), so a function decodes it with a small check at cold start instead of
   * parsing YAML against the full schema. Lambda allows 4 KiB for a function's whole environment.
   */
  document: string;
}

/** Throws `ConfigError` (file, line, problem) for an invalid file, like every other reader of tfgate.yaml. */
export function loadStackConfig(file: string): StackConfig {
  const config = loadConfigFile(file);
  const document = encodeResolvedConfig(config);
  // The functions decode this text, not the file: prove at synth time that they get the same configuration back.
  if (!isDeepStrictEqual(decodeResolvedConfig(document, `${file} (as CONFIG)`), config)) {
    throw new Error(`internal: ${file} does not survive the trip through CONFIG unchanged`);
  }
  return { config, document };
}
