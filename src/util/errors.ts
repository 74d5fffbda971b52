/**
 * Typed errors with stable codes. Every error the product raises on purpose is a TinyKvError or a
 * subclass of it; the code never changes once published (docs/errors.md), the message may.
 *
 * This module imports nothing, so every layer may use it, the pure Raft core included. How a code
 * travels on the wire (gRPC status, response-header field) is decided only at the edges:
 * src/rpc/error-status.ts on the server side, the clients where a status turns back into an error.
 */

export const ErrorCode = {
  InvalidArgument: 'KV:Server:InvalidArgument',
  UnknownColumnFamily: 'KV:Server:UnknownColumnFamily',
  EmptyKey: 'KV:Server:EmptyKey',
  KeyTooLarge: 'KV:Server:KeyTooLarge',
  ValueTooLarge: 'KV:Server:ValueTooLarge',
  EmptyValue: 'KV:Server:EmptyValue',
  ScanLimitTooLarge: 'KV:Server:ScanLimitTooLarge',
  Unimplemented: 'KV:Server:Unimplemented',
  ServerClosing: 'KV:Server:Closing',
  /** The server-wide budget for unsent response bytes is used up (server.grpc-memory-quota). */
  MemoryQuotaExceeded: 'KV:Server:MemoryQuotaExceeded',
  /** A raw write to the lock or write column family, which the transaction layer owns. */
  RawWriteToTxnFamily: 'KV:Server:RawWriteToTxnFamily',
  /** A request that is not valid protobuf wire format (field 0, stray end-group, truncated...). */
  MalformedMessage: 'KV:Server:MalformedMessage',
  BatchTooLarge: 'KV:Engine:BatchTooLarge',
  EngineClosed: 'KV:Engine:Closed',
  EngineKeyInvalid: 'KV:Engine:KeyInvalid',
  // A data file that is damaged, truncated or missing while the store's identity says it held data.
  EngineCorrupted: 'KV:Engine:Corrupted',
  // A raft log entry that fails its checksum or does not decode to the index it is stored under.
  RaftLogCorrupted: 'KV:Raftstore:LogCorrupted',
  ReaderClosed: 'KV:Storage:ReaderClosed',
  IteratorInvalid: 'KV:Storage:IteratorInvalid',
  InvalidConfig: 'KV:Config:Invalid',
  /** The server could not listen on its address (in use, not allowed); the node does not start. */
  ListenFailed: 'KV:Server:ListenFailed',
  AssertionFailed: 'KV:Internal:AssertionFailed',
  // Receiving snapshots (src/transport/snapshot-receiver.ts).
  SnapshotRecvBusy: 'KV:Server:SnapshotRecvBusy',
  SnapshotTooLarge: 'KV:Server:SnapshotTooLarge',
  SnapshotRecvTimeout: 'KV:Server:SnapshotRecvTimeout',
  // Full disks and failed writes (issue #9).
  NoSpace: 'KV:Storage:NoSpace',
  WriteFailed: 'KV:Storage:WriteFailed',
  /** A raft poller or apply thread failed or exited during its initialisation; the store does not start. */
  StoreThreadStartFailed: 'KV:Raftstore:ThreadStartFailed',
  /** Too many regions are being split-checked at once; the check is skipped until the next tick. */
  SplitCheckBusy: 'KV:Raftstore:SplitCheckBusy',
  /** A region's split check did not answer in time. */
  SplitCheckTimeout: 'KV:Raftstore:SplitCheckTimeout',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The brand every TinyKvError carries. `Symbol.for` is global to the process, so an error made by
 * another copy of this package (two versions in one node_modules tree) is still recognised by
 * `instanceof` here; undici brands its errors the same way.
 */
const TINYKV_ERROR_BRAND = Symbol.for('tinykv.error');

export interface TinyKvErrorOptions {
  /** True when repeating the same call later may succeed. */
  readonly retryable?: boolean;
  /** The error this one wraps. */
  readonly cause?: unknown;
}

/** The one base of every error TinyKV-TS raises on purpose; recognise them with `instanceof`. */
export class TinyKvError extends Error {
  /** Stable `<Area>:<Subsystem>:<Name>` code; subclasses narrow its type to their own table. */
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options: TinyKvErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = details;
  }

  get [TINYKV_ERROR_BRAND](): true {
    return true;
  }

  /**
   * `err instanceof C` for the base and every subclass: a real prototype match, or, for an error
   * from another copy of the package, the brand plus a class of the same name in its prototype chain.
   */
  static override [Symbol.hasInstance](this: abstract new (...args: never[]) => unknown, value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!isBranded(value)) return false;
    for (let proto: unknown = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
      const ctor = Object.hasOwn(proto as object, 'constructor') ? (proto as { constructor: unknown }).constructor : undefined;
      if (typeof ctor === 'function' && ctor.name === this.name) return true;
    }
    return false;
  }
}

function isBranded(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TINYKV_ERROR_BRAND] === true;
}

export function isTinyKvError(err: unknown): err is TinyKvError {
  return err instanceof TinyKvError;
}

/** Longest client-supplied text an error message echoes (gRPC metadata is bounded; logs stay readable). */
export const ERROR_ECHO_MAX_CHARS = 64;

/**
 * Client input as it may appear in an error message: JSON-quoted (control characters escaped) and
 * cut to `maxChars` characters with the full length noted, so a huge or hostile value can never
 * blow up a status message or a log line. Buffers are shown as hex. Every error that echoes
 * request input (cf names, keys, addresses) goes through here.
 */
export function quoteForError(value: string | Uint8Array, maxChars = ERROR_ECHO_MAX_CHARS): string {
  if (typeof value !== 'string') {
    // Only the bytes that are shown are converted: a 1 MiB key must not cost a 2 MiB string.
    const shownBytes = Math.min(value.byteLength, Math.ceil(maxChars / 2));
    const hex = Buffer.from(value.buffer, value.byteOffset, shownBytes).toString('hex');
    if (value.byteLength * 2 <= maxChars) return `0x${hex}`;
    return `0x${hex.slice(0, maxChars)}... (${value.byteLength} bytes)`;
  }
  if (value.length <= maxChars) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, maxChars))}... (${value.length} chars)`;
}
