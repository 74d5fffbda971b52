// One error base: every error the product raises on purpose is a TinyKvError with a code from the
// table in docs/errors.md, instanceof works across two copies of the package (the brand), and the
// server edge (src/rpc/error-status.ts) sends each code as the status and header field the table says.
import { readFileSync } from 'node:fs';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/output.js';
import { ClientError, ClientErrorCode, fromServiceError, isClientError, isRetryable } from '../../src/client/errors.js';
import { ConfigError } from '../../src/config/config.js';
import { ErrorType } from '../../src/proto/schedulerpb.js';
import {
  ErrCompacted,
  ErrInvalidConfig,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  RaftError,
  RaftInvariantError,
} from '../../src/raft/index.js';
import { codeOfSchedulerHeaderType, grpcStatusForCode, grpcStatusOf, schedulerHeaderErrorOf, toServiceError } from '../../src/rpc/error-status.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import {
  RegionError,
  RegionErrorCode,
  epochNotMatch,
  keyNotInRegion,
  notLeader,
  regionNotFound,
  staleCommand,
  storeNotMatch,
} from '../../src/raftstore/router/errors.js';
import { KeyErrorCode, TxnError, TxnErrorCode } from '../../src/txn/errors.js';
import { ErrorCode, TinyKvError } from '../../src/util/errors.js';

interface DocRow {
  readonly code: string;
  /** The gRPC status the row names, if its second column starts with one. */
  readonly status: GrpcStatus | undefined;
  /** The scheduler header type in parentheses, e.g. "FAILED_PRECONDITION (NOT_BOOTSTRAPPED)". */
  readonly headerType: ErrorType | undefined;
}

const STATUS_NAMES = GrpcStatus as unknown as Record<string, GrpcStatus>;
const HEADER_TYPES = ErrorType as unknown as Record<string, ErrorType>;

function documentedRows(): DocRow[] {
  const rows: DocRow[] = [];
  for (const match of readFileSync('docs/errors.md', 'utf8').matchAll(/^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|/gm)) {
    const column = match[2]!.trim();
    const statusName = /^([A-Z_]+)\b/.exec(column)?.[1];
    const headerName = /\(([A-Z_]+)\)/.exec(column)?.[1];
    rows.push({
      code: match[1]!,
      status: statusName === undefined ? undefined : STATUS_NAMES[statusName],
      headerType: headerName === undefined ? undefined : HEADER_TYPES[headerName],
    });
  }
  return rows;
}

const DOC_ROWS = documentedRows();
const DOCUMENTED = new Set(DOC_ROWS.map((row) => row.code));

/** One instance of every error class, with every code its own table defines. */
function everyError(): TinyKvError[] {
  const peer = { id: 2, storeId: 2 };
  const region = { id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: 1, version: 1 }, peers: [peer] };
  return [
    ...Object.values(ErrorCode).map((code) => new TinyKvError(code, 'x')),
    new ConfigError('x'),
    ...Object.values(TxnErrorCode).map((code) => new TxnError(code, 'x')),
    ...Object.values(SchedulerErrorCode).map((code) => new SchedulerError(code, 'x')),
    notLeader(1, peer),
    regionNotFound(1),
    keyNotInRegion(Buffer.from('k'), region),
    epochNotMatch('x', [region]),
    staleCommand(),
    storeNotMatch(1, 2),
    new RegionError({ message: 'x' } as RegionError['regionError']),
    ...Object.values(ClientErrorCode).map((code) => new ClientError(code, 'x')),
    new ErrCompacted(),
    new ErrUnavailable(),
    new ErrSnapOutOfDate(),
    new ErrSnapshotTemporarilyUnavailable(),
    new ErrProposalDropped(),
    new ErrStepLocalMsg(),
    new ErrStepPeerNotFound(),
    new ErrInvalidConfig('x'),
    new RaftInvariantError('x'),
    new UsageError('x'),
  ];
}

describe('the error base', () => {
  it('every error class is a TinyKvError named for its class, with a documented code', () => {
    for (const err of everyError()) {
      expect(err, err.name).toBeInstanceOf(TinyKvError);
      expect(err, err.name).toBeInstanceOf(Error);
      expect(err.name).toBe(err.constructor.name);
      expect(DOCUMENTED.has(err.code), `${err.name} ${err.code}`).toBe(true);
    }
  });

  it('instanceof tells the classes apart', () => {
    const txn = new TxnError(TxnErrorCode.Corruption, 'x');
    expect(txn).toBeInstanceOf(TxnError);
    expect(txn).not.toBeInstanceOf(SchedulerError);
    expect(new ErrProposalDropped()).toBeInstanceOf(RaftError);
    expect(new ErrProposalDropped()).not.toBeInstanceOf(ErrCompacted);
    expect(new TinyKvError(ErrorCode.EmptyKey, 'x')).not.toBeInstanceOf(ConfigError);
    for (const value of [new Error('x'), { code: 'KV:Server:EmptyKey', message: 'x' }, null, undefined, 'KV:Server:EmptyKey']) {
      expect(value instanceof TinyKvError).toBe(false);
    }
  });

  it('recognises errors made by another copy of the package (the brand)', async () => {
    vi.resetModules();
    const copy = await import('../../src/txn/errors.js');
    const copyBase = await import('../../src/util/errors.js');
    expect(copy.TxnError).not.toBe(TxnError);
    expect(copyBase.TinyKvError).not.toBe(TinyKvError);
    const foreign: unknown = new copy.TxnError(TxnErrorCode.LatchQueueFull, 'busy');
    expect(Object.getPrototypeOf(foreign)).not.toBe(TxnError.prototype);
    expect(foreign instanceof TinyKvError).toBe(true);
    expect(foreign instanceof TxnError).toBe(true);
    expect(foreign instanceof SchedulerError).toBe(false);
    expect(new TxnError(TxnErrorCode.Corruption, 'x') instanceof copyBase.TinyKvError).toBe(true);
    // The edge maps it like one of its own.
    expect(grpcStatusOf(foreign)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('keeps cause, details and retryable', () => {
    const cause = new Error('disk');
    const err = new TinyKvError(ErrorCode.WriteFailed, 'x', { path: '/d' }, { retryable: true, cause });
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ path: '/d' });
    expect(err.retryable).toBe(true);
    expect(new TinyKvError(ErrorCode.WriteFailed, 'x').retryable).toBe(false);
    expect(new TxnError(TxnErrorCode.LatchQueueFull, 'x').retryable).toBe(true);
    expect(new ErrProposalDropped().retryable).toBe(true);
    expect(notLeader(1, undefined).retryable).toBe(true);
  });

  it('keeps the client helpers working as thin instanceof checks', () => {
    const conflict = new ClientError(ClientErrorCode.WriteConflict, 'x');
    expect(isClientError(conflict)).toBe(true);
    expect(isClientError(conflict, ClientErrorCode.WriteConflict)).toBe(true);
    expect(isClientError(conflict, ClientErrorCode.Transport)).toBe(false);
    expect(isClientError(new TxnError(TxnErrorCode.Corruption, 'x'))).toBe(false);
    expect(isRetryable(conflict)).toBe(true);
    expect(isRetryable(new TxnError(TxnErrorCode.LatchQueueFull, 'x'))).toBe(false);
  });
});

describe('the server edge (src/rpc/error-status.ts)', () => {
  const serverTables = [ErrorCode, TxnErrorCode, SchedulerErrorCode, RegionErrorCode];
  /** `createRawClient` turns an error string in a response body into this code; the server never raises it. */
  const CLIENT_SIDE_STATUS_ROWS = new Set(['KV:Server:Error']);

  it('maps every code the server raises, and nothing else', () => {
    for (const code of serverTables.flatMap((table) => Object.values(table))) {
      expect(grpcStatusForCode(code), code).toBeDefined();
    }
    const clientSide = [...Object.values(ClientErrorCode), ...Object.values(KeyErrorCode), 'KV:Cli:Usage'];
    const raft = DOC_ROWS.map((row) => row.code).filter((code) => code.startsWith('Raft:'));
    expect(raft.length).toBeGreaterThanOrEqual(9);
    for (const code of [...clientSide, ...raft]) expect(grpcStatusForCode(code), code).toBeUndefined();
  });

  it('sends each documented code as the status its row names', () => {
    const withStatus = DOC_ROWS.filter((row) => row.status !== undefined && !CLIENT_SIDE_STATUS_ROWS.has(row.code));
    expect(withStatus.length).toBeGreaterThan(50);
    for (const row of withStatus) expect(grpcStatusOf(new TinyKvError(row.code, 'x')), row.code).toBe(row.status);
  });

  it('sends a code without a status column only as INTERNAL, as documented', () => {
    for (const row of DOC_ROWS.filter((r) => r.status === undefined)) {
      expect(grpcStatusForCode(row.code), row.code).toBeUndefined();
      expect(grpcStatusOf(new TinyKvError(row.code, 'x'))).toBe(GrpcStatus.INTERNAL);
    }
  });

  it('answers the scheduler refusals TinyKV puts in the response header there, both ways', () => {
    for (const code of Object.values(SchedulerErrorCode)) {
      const row = DOC_ROWS.find((r) => r.code === code);
      const header = schedulerHeaderErrorOf(new SchedulerError(code, 'why'));
      expect(header?.type, code).toBe(row?.headerType);
      if (header !== undefined) {
        expect(header.message).toBe('why');
        expect(codeOfSchedulerHeaderType(header.type)).toBe(code);
      }
    }
    expect(schedulerHeaderErrorOf(new TinyKvError(ErrorCode.EmptyKey, 'x'))).toBeUndefined();
    expect(codeOfSchedulerHeaderType(ErrorType.UNKNOWN)).toBeUndefined();
  });

  it('puts the code in the trailer and the details, and an uncoded error as KV:Internal:Unexpected', () => {
    const coded = toServiceError(new TxnError(TxnErrorCode.TooManyKeys, 'too many'));
    expect(coded.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(coded.details).toBe('[KV:Txn:TooManyKeys] too many');
    expect(coded.metadata.get('tinykv-error-code')).toEqual(['KV:Txn:TooManyKeys']);
    const plain = toServiceError(new Error('boom'));
    expect(plain.code).toBe(GrpcStatus.INTERNAL);
    expect(plain.details).toBe('[KV:Internal:Unexpected] boom');
    expect(plain.metadata.get('tinykv-error-code')).toEqual(['KV:Internal:Unexpected']);
  });
});

describe('the client edge', () => {
  function failedCall(code: GrpcStatus, trailer?: string): ServiceError {
    const metadata = new Metadata();
    if (trailer !== undefined) metadata.set('tinykv-error-code', trailer);
    return Object.assign(new Error('call failed'), { code, details: 'call failed', metadata });
  }

  it('a failed call becomes a ClientError that keeps the server code, else a transport or server-error code', () => {
    const stale = fromServiceError(failedCall(GrpcStatus.ABORTED, 'KV:Scheduler:StaleRegion'), 'x');
    expect([stale.code, stale.serverCode]).toEqual(['KV:Client:ServerError', 'KV:Scheduler:StaleRegion']);
    const down = fromServiceError(failedCall(GrpcStatus.UNAVAILABLE), 'x');
    expect([down.code, down.retryable, down.serverCode]).toEqual(['KV:Client:Transport', true, undefined]);
  });

  it('a scheduler header type names the scheduler code its trailer would carry', () => {
    expect(codeOfSchedulerHeaderType(ErrorType.STORE_TOMBSTONE)).toBe('KV:Scheduler:StoreTombstone');
    expect(codeOfSchedulerHeaderType(ErrorType.NOT_BOOTSTRAPPED)).toBe('KV:Scheduler:NotBootstrapped');
  });
});
