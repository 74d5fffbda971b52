/**
 * The Raw API (TinyKV project 1) over a Storage: one column family per call, no transactions.
 * Handlers validate input and throw TinyKvError for bad requests; the gRPC layer maps codes to
 * statuses.
 */
import {
  KvPair,
  RawDeleteResponse,
  RawGetResponse,
  RawPutResponse,
  RawScanResponse,
  type RawDeleteRequest,
  type RawGetRequest,
  type RawPutRequest,
  type RawScanRequest,
} from '../proto/kvrpcpb.js';
import { isDataColumnFamily, type DataColumnFamily } from '../engine/engine.js';
import type { Storage } from '../storage/storage.js';
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import { regionErrorOf } from '../txn/commands/common.js';
import { ErrorCode, quoteForError, TinyKvError } from '../util/errors.js';
import type { Limits } from '../config/limits.js';

export interface RawHandlerOptions {
  /**
   * Let RawPut/RawDelete write the lock and write column families. Off by default: those families
   * hold the transaction layer's records, and one hand-written record there breaks every Kv* call
   * that meets it (server.allow-raw-txn-cf-writes).
   */
  readonly allowRawTxnCfWrites: boolean;
}

/** The value of a key not found (shared: responses are encoded, never changed). */
const EMPTY_VALUE = Buffer.alloc(0);

/** Column families whose records the transaction layer decodes (see src/txn/lock.ts, write.ts). */
const TXN_FAMILIES: ReadonlySet<DataColumnFamily> = new Set(['lock', 'write']);

/** Region errors (wrong region, not leader, ...) travel in the response's region_error, as TinyKV's do. */
async function withRegionErrors<T>(run: () => Promise<T>, wrap: (regionError: RegionErrorPb) => T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const regionError = regionErrorOf(err);
    if (regionError) return wrap(regionError);
    throw err;
  }
}

export class RawHandlers {
  constructor(
    private readonly storage: Storage,
    private readonly limits: Limits,
    private readonly options: RawHandlerOptions = { allowRawTxnCfWrites: false },
  ) {}

  rawGet(request: RawGetRequest): Promise<RawGetResponse> {
    return withRegionErrors(
      () => this.get(request),
      (regionError) => RawGetResponse.fromPartial({ regionError }),
    );
  }

  rawPut(request: RawPutRequest): Promise<RawPutResponse> {
    return withRegionErrors(
      () => this.put(request),
      (regionError) => RawPutResponse.fromPartial({ regionError }),
    );
  }

  rawDelete(request: RawDeleteRequest): Promise<RawDeleteResponse> {
    return withRegionErrors(
      () => this.delete(request),
      (regionError) => RawDeleteResponse.fromPartial({ regionError }),
    );
  }

  rawScan(request: RawScanRequest): Promise<RawScanResponse> {
    return withRegionErrors(
      () => this.scan(request),
      (regionError) => RawScanResponse.fromPartial({ regionError }),
    );
  }

  private async get(request: RawGetRequest): Promise<RawGetResponse> {
    const cf = this.columnFamily(request.cf);
    this.checkKey(request.key);
    const reader = await this.storage.reader(request.context, request.key);
    try {
      const value = reader.getCF(cf, request.key);
      // Built whole (every field, as the decoder would): the hot read path skips fromPartial's copies.
      return value === undefined
        ? { regionError: undefined, error: '', value: EMPTY_VALUE, notFound: true }
        : { regionError: undefined, error: '', value, notFound: false };
    } finally {
      reader.close();
    }
  }

  private async put(request: RawPutRequest): Promise<RawPutResponse> {
    const cf = this.writableColumnFamily(request.cf, 'RawPut');
    this.checkKey(request.key);
    this.checkValue(request.value);
    await this.storage.write(request.context, [{ type: 'put', cf, key: request.key, value: request.value }]);
    return RawPutResponse.fromPartial({});
  }

  private async delete(request: RawDeleteRequest): Promise<RawDeleteResponse> {
    const cf = this.writableColumnFamily(request.cf, 'RawDelete');
    this.checkKey(request.key);
    await this.storage.write(request.context, [{ type: 'delete', cf, key: request.key }]);
    return RawDeleteResponse.fromPartial({});
  }

  private async scan(request: RawScanRequest): Promise<RawScanResponse> {
    const cf = this.columnFamily(request.cf);
    this.checkKey(request.startKey, true);
    if (request.limit > this.limits.maxScanLimit) {
      throw new TinyKvError(ErrorCode.ScanLimitTooLarge, `scan limit ${request.limit} exceeds ${this.limits.maxScanLimit}`, {
        limit: request.limit,
        maxScanLimit: this.limits.maxScanLimit,
      });
    }
    const reader = await this.storage.reader(request.context, request.startKey);
    const iterator = reader.iterCF(cf);
    const kvs: KvPair[] = [];
    try {
      let responseBytes = 0;
      for (iterator.seek(request.startKey); iterator.valid() && kvs.length < request.limit; iterator.next()) {
        const key = iterator.key();
        const value = iterator.value();
        responseBytes += key.length + value.length;
        // Always return at least one pair so a client paging by last key makes progress.
        if (kvs.length > 0 && responseBytes > this.limits.maxScanResponseBytes) break;
        kvs.push(KvPair.fromPartial({ key, value }));
      }
    } finally {
      iterator.close();
      reader.close();
    }
    return RawScanResponse.fromPartial({ kvs });
  }

  private columnFamily(name: string): DataColumnFamily {
    const cf = name === '' ? 'default' : name;
    if (!isDataColumnFamily(cf)) {
      throw new TinyKvError(ErrorCode.UnknownColumnFamily, `unknown column family ${quoteForError(name)} (expected default, lock or write)`, {
        cf: quoteForError(name),
      });
    }
    return cf;
  }

  /** The column family a raw write may change: every raw write path goes through here. */
  private writableColumnFamily(name: string, method: string): DataColumnFamily {
    const cf = this.columnFamily(name);
    if (TXN_FAMILIES.has(cf) && !this.options.allowRawTxnCfWrites) {
      throw new TinyKvError(
        ErrorCode.RawWriteToTxnFamily,
        `${method} to the ${cf} column family is refused: it holds transaction records, and a raw write there ` +
          'would break transactional reads; set server.allow-raw-txn-cf-writes = true to allow it',
        { cf },
      );
    }
    return cf;
  }

  private checkKey(key: Buffer, allowEmpty = false): void {
    if (key.length === 0 && !allowEmpty) throw new TinyKvError(ErrorCode.EmptyKey, 'key must not be empty');
    if (key.length > this.limits.maxKeySizeBytes) {
      throw new TinyKvError(ErrorCode.KeyTooLarge, `key of ${key.length} bytes exceeds max-key-size ${this.limits.maxKeySizeBytes}`, {
        sizeBytes: key.length,
        maxKeySizeBytes: this.limits.maxKeySizeBytes,
      });
    }
  }

  private checkValue(value: Buffer): void {
    // An empty value would be indistinguishable from a delete in TinyKV's engine; say so.
    if (value.length === 0) throw new TinyKvError(ErrorCode.EmptyValue, 'empty values are not supported; use RawDelete');
    if (value.length > this.limits.maxValueSizeBytes) {
      throw new TinyKvError(ErrorCode.ValueTooLarge, `value of ${value.length} bytes exceeds max-value-size ${this.limits.maxValueSizeBytes}`, {
        sizeBytes: value.length,
        maxValueSizeBytes: this.limits.maxValueSizeBytes,
      });
    }
  }
}
