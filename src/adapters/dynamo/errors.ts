import { RETRYABLE_ERROR_NAME, TfgateError } from '../../domain/errors.js';

/** An unexpected DynamoDB failure (throttling, a missing table, a network error): not a domain outcome. */
export class StoreError extends TfgateError {
  override name = 'StoreError';
}

/**
 * A DynamoDB failure worth trying again (throttling, a 5xx from the service) after the SDK's own
 * retries gave up. Named RETRYABLE_ERROR_NAME because that is a name the state machine's Retry lists:
 * wrapped under any other name, a throttled pipeline task would fail its run instead of being retried.
 */
export class TransientStoreError extends StoreError {
  override name = RETRYABLE_ERROR_NAME;
}

const TRANSIENT_ERROR_NAMES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);

export function isTransientDynamoError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $retryable } = error as { name?: unknown; $retryable?: { throttling?: boolean } };
  return (typeof name === 'string' && TRANSIENT_ERROR_NAMES.has(name)) || $retryable?.throttling === true;
}

type AttributeValue = Record<string, unknown>;

interface ConditionalCheckFailure {
  name: 'ConditionalCheckFailedException';
  /** Present in AWS when the request asked for ReturnValuesOnConditionCheckFailure ALL_OLD; dynalite omits it. */
  Item?: Record<string, AttributeValue>;
}

export function isConditionalCheckFailed(error: unknown): error is ConditionalCheckFailure {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'ConditionalCheckFailedException'
  );
}

/**
 * Runs one DynamoDB call, letting domain errors through and wrapping everything else in StoreError,
 * so callers above the adapter only ever see TfgateErrors.
 */
export async function storeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TfgateError) throw error;
    if (isTransientDynamoError(error)) {
      throw new TransientStoreError(
        `DynamoDB ${operation} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    throw new StoreError(`DynamoDB ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * The item a failed condition returned (ALL_OLD), in DocumentClient shape. The DocumentClient does not
 * translate the Item carried by an exception, and the codec package is not a declared dependency, so
 * this covers the attribute types tfgate writes.
 */
export function oldItemOf(error: ConditionalCheckFailure): Record<string, unknown> | undefined {
  if (!error.Item) return undefined;
  return Object.fromEntries(Object.entries(error.Item).map(([name, value]) => [name, fromAttributeValue(value)]));
}

export function fromAttributeValue(value: AttributeValue): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('BOOL' in value) return value.BOOL;
  if ('NULL' in value) return null;
  if ('L' in value) return (value.L as AttributeValue[]).map(fromAttributeValue);
  if ('M' in value) {
    return Object.fromEntries(
      Object.entries(value.M as Record<string, AttributeValue>).map(([name, inner]) => [
        name,
        fromAttributeValue(inner),
      ]),
    );
  }
  if ('SS' in value) return new Set(value.SS as string[]);
  if ('NS' in value) return new Set((value.NS as string[]).map(Number));
  throw new StoreError(`Unsupported attribute value type: ${Object.keys(value).join(',')}`);
}

const SECONDS_PER_DAY = 86_400;

export function epochSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

/** The clean-up time for the table's TTL attribute: `days` after `from`. */
export function ttlAfterDays(from: Date, days: number): number {
  return epochSeconds(from) + days * SECONDS_PER_DAY;
}
