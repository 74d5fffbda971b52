/** Formatting of ctl results: bytes in a chosen encoding, JSON or an aligned table. */
import { TinyKvError } from '../util/errors.js';

export const BYTE_ENCODINGS = ['utf8', 'hex', 'base64'] as const;
export type ByteEncoding = (typeof BYTE_ENCODINGS)[number];
export type OutputFormat = 'json' | 'table';

export function decodeArg(text: string, encoding: ByteEncoding): Buffer {
  if (encoding === 'hex' && !/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new UsageError(`"${text}" is not valid hex`);
  return Buffer.from(text, encoding);
}

export function encodeBytes(bytes: Buffer, encoding: ByteEncoding): string {
  return bytes.toString(encoding);
}

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The one code of every CLI usage mistake; the message says which. */
export const UsageErrorCode = 'KV:Cli:Usage';

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends TinyKvError {
  constructor(message: string) {
    super(UsageErrorCode, message);
  }
}
