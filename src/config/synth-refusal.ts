import { TfgateError } from '../domain/errors.js';

/**
 * A configuration or a construct the stack refuses before anything is deployed, in one line that says what
 * to change: `cdk synth` prints its message, never a stack trace (bin/app.ts).
 */
export class SynthRefusal extends TfgateError {
  override name = 'SynthRefusal';
}
