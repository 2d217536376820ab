/** The base of every error the domain raises; adapters translate their own failures into these. */
export class TfgateError extends Error {
  override name = 'TfgateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The error name the state machine's Retry lists for failures worth another try: a pipeline task's own
 * (RetryableTaskError) and a DynamoDB call's after the SDK gave up (TransientStoreError) both carry it.
 */
export const RETRYABLE_ERROR_NAME = 'TransientError';

/** A conditional create found the item already there (a duplicate delivery, a twin run id). */
export class AlreadyExistsError extends TfgateError {
  override name = 'AlreadyExistsError';
}

export class NotFoundError extends TfgateError {
  override name = 'NotFoundError';
}
