// quoteForError echoes hostile input into errors cut short; the cut happens before the input is
// converted, so a huge key costs only the shown part. The scheduler's address checks use it too.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkStoreAddress } from '../../src/scheduler/input-checks.js';
import { ERROR_ECHO_MAX_CHARS, quoteForError } from '../../src/util/errors.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('quoteForError', () => {
  it('converts only the shown bytes of a 1 MiB key to hex', () => {
    const key = new Uint8Array(1024 * 1024).fill(0xab);
    const toString = vi.spyOn(Buffer.prototype, 'toString');
    const quoted = quoteForError(key);
    const convertedBytes = toString.mock.contexts.map((buffer) => (buffer as Buffer).length);
    toString.mockRestore();
    expect(quoted).toBe(`0x${'ab'.repeat(ERROR_ECHO_MAX_CHARS / 2)}... (1048576 bytes)`);
    expect(Math.max(...convertedBytes)).toBeLessThanOrEqual(ERROR_ECHO_MAX_CHARS / 2);
  });

  it('cuts bytes at an odd character count and honours a view into a larger buffer', () => {
    expect(quoteForError(Buffer.from([0xab, 0xcd, 0xef]), 3)).toBe('0xabc... (3 bytes)');
    expect(quoteForError(Buffer.from([0xab, 0xcd]), 4)).toBe('0xabcd');
    const backing = Buffer.from([0x00, 0x11, 0x22, 0x33, 0x44]);
    expect(quoteForError(backing.subarray(1, 4), 4)).toBe('0x1122... (3 bytes)');
    expect(quoteForError(new Uint8Array(0))).toBe('0x');
  });
});

describe('checkStoreAddress', () => {
  it('quotes a refused address with quoteForError in the message and the details', () => {
    const address = `${'a'.repeat(1000)}:20160`;
    let caught: unknown;
    try {
      checkStoreAddress(address);
    } catch (err) {
      caught = err;
    }
    const err = caught as Error & { details: Record<string, unknown> };
    expect(err.message).toContain(`invalid store address ${quoteForError(address)}:`);
    expect(err.message).toContain(`... (${address.length} chars)`);
    expect(err.details['address']).toBe(quoteForError(address));
  });
});
