/**
 * Invariant assertions. They are always on: a broken invariant means the
 * node's state can no longer be trusted, so we stop loudly instead of
 * corrupting replicated data silently.
 */
import { RaftError } from './errors.js';

/** Thrown when an internal Raft invariant does not hold. Not retryable. */
export class RaftInvariantError extends RaftError {
  constructor(message: string) {
    super('Raft:Invariant', `raft invariant violated: ${message}`);
  }
}

/** Throws a RaftInvariantError with `message` when `condition` is false. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}

/** Throws a RaftInvariantError; the message is built only on failure. */
export function invariantLazy(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new RaftInvariantError(message());
}

/**
 * Returns `value`, throwing a RaftInvariantError when it is undefined or null: for an array slot or map entry
 * that must exist, where a bare `!` would let a broken invariant travel on as `undefined`.
 */
export function defined<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) throw new RaftInvariantError(`${what} is ${value === null ? 'null' : 'undefined'}`);
  return value;
}

/** Largest index or term we accept: indexes are plain numbers, exact up to 2^53 - 1. */
export const MAX_INDEX = Number.MAX_SAFE_INTEGER;

/** Asserts `n` is a non-negative safe integer (an index, term or node id). */
export function assertIndex(n: number, what: string): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) {
    throw new RaftInvariantError(`${what} must be a non-negative safe integer, got ${n}`);
  }
}
