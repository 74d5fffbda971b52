/** Invariant assertions. They stay on in production: a visible stop beats silent corruption. */
import { ErrorCode, TinyKvError } from './errors.js';

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TinyKvError(ErrorCode.AssertionFailed, `assertion failed: ${message}`);
}
