import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfigFile, parseConfig, type TfgateConfig } from '../lambdas/core/config/load.js';

export interface StackConfig {
  /** The validated configuration the stack is built from. */
  config: TfgateConfig;
  /**
   * What the functions receive in CONFIG: the file's document as JSON (which is YAML too), so each
   * function validates it with the same `parseConfig` at cold start. Comments are dropped; Lambda
   * allows 4 KiB for a function's whole environment.
   */
  document: string;
}

/** Throws `ConfigError` (file, line, problem) for an invalid file, like every other reader of tfgate.yaml. */
export function loadStackConfig(file: string): StackConfig {
  const config = loadConfigFile(file);
  // loadConfigFile has refused aliases and oversize input, so a plain parse is safe here.
  const document = JSON.stringify(parse(readFileSync(file, 'utf8')));
  // The functions parse this text, not the file: prove at synth time that they will accept it.
  parseConfig(document, `${file} (as CONFIG)`);
  return { config, document };
}
