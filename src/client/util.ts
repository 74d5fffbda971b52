/** Small helpers shared by the client modules: key/value arguments, sleeping, backoff. */
import { invalidArgument } from './errors.js';

/** A key or value: bytes, or a string taken as UTF-8. */
export type Bytes = Uint8Array | string;

export function toBuf(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw invalidArgument(`expected a Uint8Array or string, got ${typeof bytes}`);
}

/** A non-empty key as a Buffer. */
export function toKey(key: Bytes, what = 'key'): Buffer {
  const buf = toBuf(key);
  if (buf.length === 0) throw invalidArgument(`${what} must not be empty`);
  return buf;
}

/** A value as a private copy (the caller may reuse its buffer). */
export function toValue(value: Bytes): Buffer {
  return Buffer.from(toBuf(value));
}

/** A binary-safe map key whose string order equals the byte order of `key`. */
export function keyId(key: Buffer): string {
  return key.toString('latin1');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** "Full jitter" exponential backoff: a random delay in [0, min(cap, base * 2^attempt)]. */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

/** The smallest key greater than `key`. */
export function nextKey(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

export function checkPositiveInt(name: string, value: number | undefined, min = 1): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min)) {
    throw invalidArgument(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}
