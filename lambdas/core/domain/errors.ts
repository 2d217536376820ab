/** The base of every error the domain raises; adapters translate their own failures into these. */
export class TfgateError extends Error {
  override name = 'TfgateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A conditional create found the item already there (a duplicate delivery, a twin run id). */
export class AlreadyExistsError extends TfgateError {
  override name = 'AlreadyExistsError';
}

export class NotFoundError extends TfgateError {
  override name = 'NotFoundError';
}
