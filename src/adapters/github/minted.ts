import { TfgateError } from '../../domain/errors.js';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { VcsClient } from '../../domain/ports.js';
import { GitHubClient } from './client.js';
import type { InstallationTarget, MintedToken, TokenMinter } from './credentials.js';

export class TokenFunctionError extends TfgateError {
  override name = 'TokenFunctionError';
}

/**
 * Asks the GitHub token function (not publicly reachable, the only reader of the App's key besides the
 * other private functions) for an installation token, by a synchronous invoke.
 */
export function tokenFunctionMinter(lambda: LambdaClient, functionName: string): TokenMinter {
  return async (target: InstallationTarget): Promise<MintedToken | undefined> => {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(target)),
      }),
    );
    const text = result.Payload ? new TextDecoder().decode(result.Payload) : '';
    // The function's error names the target's problem, never a secret; its payload is passed on as such.
    if (result.FunctionError) {
      let message = 'the GitHub token function failed';
      try {
        const parsed = JSON.parse(text) as { errorMessage?: unknown };
        if (typeof parsed.errorMessage === 'string') message += `: ${parsed.errorMessage.slice(0, 300)}`;
      } catch {
        // not JSON: the generic message stands
      }
      throw new TokenFunctionError(message);
    }
    const answer = JSON.parse(text) as { token?: unknown; expiresAt?: unknown; none?: unknown };
    if (typeof answer.token === 'string' && answer.token !== '') {
      return { token: answer.token, ...(typeof answer.expiresAt === 'string' ? { expiresAt: answer.expiresAt } : {}) };
    }
    if (typeof answer.none === 'string') return undefined;
    throw new TokenFunctionError('the GitHub token function answered without a token');
  };
}

export function vcsFromTokenFunction(options: {
  apiUrl: string;
  functionName: string;
  lambda?: LambdaClient;
}): VcsClient {
  const mint = tokenFunctionMinter(options.lambda ?? new LambdaClient({}), options.functionName);
  return new GitHubClient({ apiUrl: options.apiUrl, credentials: { kind: 'minted', mint } });
}
