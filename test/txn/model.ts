/**
 * A reference model of the transaction commands for the model test: the same semantics as
 * src/txn, written independently over plain maps (records per key, one lock per key), with no
 * byte encodings, iterators or batches.
 */
import { Action, KeyError, KvPair, LockInfo } from '../../src/proto/kvrpcpb.js';
import { KeyErrorCode } from '../../src/txn/errors.js';
import { WriteKind } from '../../src/txn/write.js';

export interface ModelRecord {
  readonly ts: bigint;
  readonly startTs: bigint;
  readonly kind: WriteKind;
}
export interface ModelLock {
  readonly startTs: bigint;
  readonly primary: Buffer;
  readonly ttl: bigint;
  readonly kind: WriteKind;
}
export interface ModelMutation {
  readonly key: Buffer;
  readonly kind: WriteKind.Put | WriteKind.Delete;
  readonly value: Buffer;
}
export type CommitOutcome = { ok: true } | { ok: false; field: 'abort' | 'retryable'; code: string };
export type GetOutcome = { locked: LockInfo } | { value: Buffer } | { notFound: true };

const id = (key: Buffer) => key.toString('hex');
const physical = (ts: bigint) => ts >> 18n;

export class TxnModel {
  private readonly records = new Map<string, ModelRecord[]>();
  private readonly values = new Map<string, Buffer>(); // `${key}@${startTs}` → value
  private readonly locks = new Map<string, ModelLock>();
  private readonly keysById = new Map<string, Buffer>();

  lockCount(): number {
    return this.locks.size;
  }

  prewrite(startTs: bigint, primary: Buffer, ttl: bigint, mutations: readonly ModelMutation[]): KeyError[] {
    const unique = new Map<string, ModelMutation>();
    for (const m of mutations) unique.set(id(m.key), m);
    const errors: KeyError[] = [];
    for (const m of unique.values()) {
      const newest = this.recordsOf(m.key)[0];
      const lock = this.locks.get(id(m.key));
      if (newest !== undefined && newest.ts >= startTs) {
        errors.push(KeyError.fromPartial({ conflict: { startTs, conflictTs: newest.ts, key: m.key, primary } }));
      } else if (lock !== undefined && lock.startTs !== startTs) {
        errors.push(KeyError.fromPartial({ locked: this.info(m.key, lock) }));
      }
    }
    if (errors.length > 0) return errors;
    for (const m of unique.values()) {
      this.keysById.set(id(m.key), m.key);
      this.locks.set(id(m.key), { startTs, primary, ttl, kind: m.kind });
      if (m.kind === WriteKind.Put) this.values.set(`${id(m.key)}@${startTs}`, m.value);
      else this.values.delete(`${id(m.key)}@${startTs}`);
    }
    return [];
  }

  commit(startTs: bigint, keys: readonly Buffer[], commitTs: bigint): CommitOutcome {
    const unique = [...new Map(keys.map((key) => [id(key), key])).values()];
    const toCommit: Buffer[] = [];
    for (const key of unique) {
      const lock = this.locks.get(id(key));
      if (lock?.startTs === startTs) {
        toCommit.push(key);
        continue;
      }
      const own = this.ownRecord(key, startTs);
      if (own?.kind === WriteKind.Rollback) return { ok: false, field: 'abort', code: KeyErrorCode.RolledBack };
      if (own !== undefined) continue;
      if (lock !== undefined) return { ok: false, field: 'retryable', code: KeyErrorCode.LockedByOther };
      return { ok: false, field: 'abort', code: KeyErrorCode.LockNotFound };
    }
    for (const key of toCommit) this.commitLocked(key, commitTs);
    return { ok: true };
  }

  rollback(startTs: bigint, keys: readonly Buffer[]): CommitOutcome {
    const unique = [...new Map(keys.map((key) => [id(key), key])).values()];
    for (const key of unique) {
      const own = this.ownRecord(key, startTs);
      if (own !== undefined && own.kind !== WriteKind.Rollback) return { ok: false, field: 'abort', code: KeyErrorCode.AlreadyCommitted };
    }
    for (const key of unique) if (this.ownRecord(key, startTs) === undefined) this.rollbackKey(key, startTs);
    return { ok: true };
  }

  checkTxnStatus(primary: Buffer, lockTs: bigint, currentTs: bigint): { lockTtl: bigint; commitVersion: bigint; action: Action } {
    const lock = this.locks.get(id(primary));
    if (lock?.startTs === lockTs) {
      if (physical(lockTs) + lock.ttl > physical(currentTs)) {
        return { lockTtl: lock.ttl > 0n ? lock.ttl : 1n, commitVersion: 0n, action: Action.NoAction };
      }
      this.rollbackKey(primary, lockTs);
      return { lockTtl: 0n, commitVersion: 0n, action: Action.TTLExpireRollback };
    }
    const own = this.ownRecord(primary, lockTs);
    if (own !== undefined) {
      return { lockTtl: 0n, commitVersion: own.kind === WriteKind.Rollback ? 0n : own.ts, action: Action.NoAction };
    }
    this.rollbackKey(primary, lockTs);
    return { lockTtl: 0n, commitVersion: 0n, action: Action.LockNotExistRollback };
  }

  resolve(startTs: bigint, commitTs: bigint): void {
    for (const [keyId, lock] of [...this.locks]) {
      if (lock.startTs !== startTs) continue;
      const key = this.keysById.get(keyId)!;
      if (commitTs === 0n) this.rollbackKey(key, startTs);
      else this.commitLocked(key, commitTs);
    }
  }

  get(key: Buffer, ts: bigint): GetOutcome {
    const lock = this.locks.get(id(key));
    if (lock !== undefined && lock.startTs <= ts) return { locked: this.info(key, lock) };
    const visible = this.recordsOf(key).find((r) => r.ts <= ts && r.kind !== WriteKind.Rollback);
    if (visible === undefined || visible.kind === WriteKind.Delete) return { notFound: true };
    return { value: this.values.get(`${id(key)}@${visible.startTs}`)! };
  }

  scan(startKey: Buffer, limit: number, ts: bigint): KvPair[] {
    const keys = [...new Set([...this.records.keys(), ...this.locks.keys()])]
      .map((keyId) => this.keysById.get(keyId)!)
      .filter((key) => Buffer.compare(key, startKey) >= 0)
      .sort(Buffer.compare);
    const pairs: KvPair[] = [];
    for (const key of keys) {
      if (pairs.length >= limit) break;
      const got = this.get(key, ts);
      if ('locked' in got) pairs.push(KvPair.fromPartial({ key, error: { locked: got.locked } }));
      else if ('value' in got) pairs.push(KvPair.fromPartial({ key, value: got.value }));
    }
    return pairs;
  }

  /** Records of `key`, newest first. */
  private recordsOf(key: Buffer): ModelRecord[] {
    return [...(this.records.get(id(key)) ?? [])].sort((a, b) => (a.ts > b.ts ? -1 : a.ts < b.ts ? 1 : 0));
  }

  private ownRecord(key: Buffer, startTs: bigint): ModelRecord | undefined {
    return this.recordsOf(key).find((r) => r.startTs === startTs);
  }

  private addRecord(key: Buffer, record: ModelRecord): void {
    this.keysById.set(id(key), key);
    const list = this.records.get(id(key)) ?? [];
    if (list.some((r) => r.ts === record.ts)) throw new Error('model: two records at one ts (timestamps must be unique)');
    list.push(record);
    this.records.set(id(key), list);
  }

  private commitLocked(key: Buffer, commitTs: bigint): void {
    const lock = this.locks.get(id(key))!;
    this.addRecord(key, { ts: commitTs, startTs: lock.startTs, kind: lock.kind });
    this.locks.delete(id(key));
  }

  private rollbackKey(key: Buffer, startTs: bigint): void {
    if (this.locks.get(id(key))?.startTs === startTs) {
      this.locks.delete(id(key));
      this.values.delete(`${id(key)}@${startTs}`);
    }
    this.addRecord(key, { ts: startTs, startTs, kind: WriteKind.Rollback });
  }

  private info(key: Buffer, lock: ModelLock): LockInfo {
    return LockInfo.fromPartial({ key, primaryLock: lock.primary, lockVersion: lock.startTs, lockTtl: lock.ttl });
  }
}
