import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { ConfigError, loadConfigFile, parseConfigValue, type TfgateConfig } from '../src/config/load.js';
import { decodeResolvedConfig, encodeResolvedConfig } from '../src/config/resolved.js';
import type { configSchema } from '../src/config/schema.js';

/**
 * tfgate.yaml's content as a value: the same keys, the same defaults (durations as text like `24h`).
 * What the construct's `config` prop takes.
 */
export type TfgateSettings = z.input<typeof configSchema>;

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
  return resolveStackConfig(loadConfigFile(file), file);
}

/** Throws `ConfigError` naming `source` and the path of each problem (`config: repositories.0.name: …`). */
export function stackConfigFromValue(value: TfgateSettings, source: string): StackConfig {
  return resolveStackConfig(parseConfigValue(value, source), source);
}

function resolveStackConfig(config: TfgateConfig, source: string): StackConfig {
  // Builds in AWS install exactly this terraform; guessing one would write state with a version nobody chose.
  if (config.terraform.version === undefined) {
    throw new ConfigError([
      {
        file: source,
        line: 1,
        column: 1,
        message:
          'terraform.version is required for AWS (the terraform CodeBuild installs, e.g. terraform: { version: ' +
          '1.11.4 }); use the version your state was written with',
      },
    ]);
  }
  const document = encodeResolvedConfig(config);
  // The functions decode this text, not the file: prove at synth time that they get the same configuration back.
  if (!isDeepStrictEqual(decodeResolvedConfig(document, `${source} (as CONFIG)`), config)) {
    throw new Error(`internal: ${source} does not survive the trip through CONFIG unchanged`);
  }
  return { config, document };
}
