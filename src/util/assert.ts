/** Invariant assertions. They stay on in production: a visible stop beats silent corruption. */
import { ErrorCode, TinyKvError } from './errors.js';

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TinyKvError(ErrorCode.AssertionFailed, `assertion failed: ${message}`);
}

/**
 * Returns `value`, failing the assertion when it is undefined or null. For an array slot, map entry or optional
 * field that must exist (an invariant), where a bare `!` would let a broken invariant travel on as `undefined`.
 */
export function defined<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null)
    throw new TinyKvError(ErrorCode.AssertionFailed, `assertion failed: ${what} is ${value === null ? 'null' : 'undefined'}`);
  return value;
}
