/** Maps a kvrpcpb KeyError (a per-key outcome in a response) to a ClientError. */
import type { KeyError } from '../proto/kvrpcpb.js';
import { ClientError, ClientErrorCode } from './errors.js';

/** The server's stable code at the start of a `retryable`/`abort` string ("KV:Txn:RolledBack: ..."). */
export function serverCodeOf(text: string): string | undefined {
  const match = /^(KV:[A-Za-z]+:[A-Za-z]+)(?::|$)/.exec(text);
  return match?.[1];
}

export function keyErrorToClientError(error: KeyError, startTs: bigint): ClientError {
  if (error.conflict !== undefined) {
    const { conflictTs, key } = error.conflict;
    return new ClientError(
      ClientErrorCode.WriteConflict,
      `write conflict on key ${key.toString('hex')}: transaction ${startTs} met a write at ${conflictTs}`,
      { details: { startTs, conflictTs, key: Buffer.from(key) }, serverCode: 'KV:Txn:WriteConflict' },
    );
  }
  if (error.locked !== undefined) {
    const { key, lockVersion } = error.locked;
    return new ClientError(ClientErrorCode.WriteConflict, `key ${key.toString('hex')} is locked by live transaction ${lockVersion}`, {
      details: { startTs, key: Buffer.from(key), lockTs: lockVersion, reason: 'locked' },
      serverCode: 'KV:Txn:KeyIsLocked',
    });
  }
  if (error.abort !== '') {
    const serverCode = serverCodeOf(error.abort);
    const code =
      serverCode === 'KV:Txn:RolledBack' || serverCode === 'KV:Txn:LockNotFound' ? ClientErrorCode.TxnRolledBack : ClientErrorCode.TxnAborted;
    return new ClientError(code, `transaction ${startTs}: ${error.abort}`, { details: { startTs }, serverCode });
  }
  if (error.retryable !== '') {
    return new ClientError(ClientErrorCode.WriteConflict, `transaction ${startTs}: ${error.retryable}`, {
      details: { startTs },
      serverCode: serverCodeOf(error.retryable),
    });
  }
  return new ClientError(ClientErrorCode.ServerError, `transaction ${startTs}: empty KeyError`, { details: { startTs } });
}
