// Error mapping and small policies, without a network.
import { describe, expect, it } from 'vitest';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { KeyError } from '../../src/proto/kvrpcpb.js';
import { ClientErrorCode, fromServiceError, isRetryable } from '../../src/client/errors.js';
import { keyErrorToClientError, serverCodeOf } from '../../src/client/key-errors.js';
import { lockTtlFor } from '../../src/client/committer.js';
import { backoffMs } from '../../src/client/util.js';

function serviceError(code: GrpcStatus, serverCode?: string): ServiceError {
  const metadata = new Metadata();
  if (serverCode !== undefined) metadata.set('tinykv-error-code', serverCode);
  return Object.assign(new Error('boom'), { code, details: 'boom', metadata });
}

describe('KeyError mapping', () => {
  const key = Buffer.from('k');
  it.each([
    [KeyError.fromPartial({ conflict: { startTs: 5n, conflictTs: 9n, key, primary: key } }), ClientErrorCode.WriteConflict, true],
    [KeyError.fromPartial({ locked: { primaryLock: key, lockVersion: 3n, key, lockTtl: 10n } }), ClientErrorCode.WriteConflict, true],
    [KeyError.fromPartial({ abort: 'KV:Txn:RolledBack: transaction 5 was rolled back' }), ClientErrorCode.TxnRolledBack, true],
    [KeyError.fromPartial({ abort: 'KV:Txn:AlreadyCommitted: nope' }), ClientErrorCode.TxnAborted, false],
    [KeyError.fromPartial({ retryable: 'KV:Txn:LockedByOther: locked' }), ClientErrorCode.WriteConflict, true],
    [KeyError.fromPartial({}), ClientErrorCode.ServerError, false],
  ])('%# maps to its code and retryability', (error, code, retryable) => {
    const mapped = keyErrorToClientError(error, 5n);
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(retryable);
    expect(isRetryable(mapped)).toBe(retryable);
  });

  it('keeps the server code of abort/retryable strings', () => {
    expect(serverCodeOf('KV:Txn:RolledBack: message: with colons')).toBe('KV:Txn:RolledBack');
    expect(serverCodeOf('no code here')).toBeUndefined();
    expect(keyErrorToClientError(KeyError.fromPartial({ abort: 'KV:Txn:RolledBack: x' }), 1n).serverCode).toBe('KV:Txn:RolledBack');
  });
});

describe('gRPC error mapping', () => {
  it.each([
    [GrpcStatus.UNAVAILABLE, undefined, ClientErrorCode.Transport, true],
    [GrpcStatus.DEADLINE_EXCEEDED, undefined, ClientErrorCode.Transport, true],
    [GrpcStatus.RESOURCE_EXHAUSTED, 'KV:Txn:LatchQueueFull', ClientErrorCode.ServerBusy, true],
    [GrpcStatus.INVALID_ARGUMENT, 'KV:Txn:KeyTooLarge', ClientErrorCode.InvalidArgument, false],
    [GrpcStatus.INTERNAL, 'KV:Internal:Unexpected', ClientErrorCode.ServerError, false],
    [GrpcStatus.UNIMPLEMENTED, 'KV:Server:Unimplemented', ClientErrorCode.ServerError, false],
  ])('status %s (%s) maps to %s', (status, serverCode, code, retryable) => {
    const mapped = fromServiceError(serviceError(status, serverCode), 'Call');
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(retryable);
    expect(mapped.serverCode).toBe(serverCode);
    expect(mapped.grpcStatus).toBe(status);
  });
});

describe('policies', () => {
  it('lock TTL: base plus elapsed, larger for big transactions, capped at 120 s plus elapsed', () => {
    expect(lockTtlFor(3000, 100, 0)).toBe(3000n);
    expect(lockTtlFor(3000, 100, 250.2)).toBe(3251n);
    expect(lockTtlFor(3000, 4 * 1024 * 1024, 0)).toBe(12000n); // 6000 * sqrt(4)
    expect(lockTtlFor(3000, 1024 * 1024 * 1024, 10)).toBe(120010n);
  });

  it('backoff stays within [0, min(cap, base * 2^attempt)]', () => {
    expect(backoffMs(0, 10, 1000, () => 0.999)).toBeLessThanOrEqual(10);
    expect(backoffMs(3, 10, 1000, () => 1)).toBe(80);
    expect(backoffMs(20, 10, 1000, () => 1)).toBe(1000);
    expect(backoffMs(5, 10, 1000, () => 0)).toBe(0);
  });
});
