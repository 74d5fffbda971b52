/** A TinyKV-TS node (or anything serving tinykvpb.TinyKv) through the Raw API: RawPut, RawGet, RawScan. */
import { RawGetResponse, RawPutResponse, RawScanResponse } from '../../src/proto/kvrpcpb.js';
import { TinyKvService } from '../../src/proto/tinykvpb.js';
import { encodeRawGet, encodeRawPut, encodeRawScan, inspectResponse } from '../wire.js';
import { BenchCallError, ChannelPool, notConnected } from './channel-pool.js';
import type { BenchTarget, TargetName } from './target.js';

const RAW_GET = TinyKvService.rawGet.path;
const RAW_PUT = TinyKvService.rawPut.path;
const RAW_SCAN = TinyKvService.rawScan.path;

export interface TinyKvTargetOptions {
  /** host:port of the node. */
  readonly addr: string;
  /** gRPC channels (connections) to open. */
  readonly connections: number;
  /** Column family; default "default". */
  readonly cf?: string;
  readonly connectTimeoutMs?: number;
}

// Responses are walked, not decoded (bench/wire.ts); only a failed call is decoded in full, for
// its message. region_error is field 1 and error field 2 in every Raw*Response.
const ERROR_FIELDS = (1 << 1) | (1 << 2);

function failure(decoded: { regionError?: { message: string } | undefined; error: string }): BenchCallError {
  return new BenchCallError(decoded.regionError ? `region error: ${decoded.regionError.message}` : decoded.error);
}

function parsePut(bytes: Buffer): void {
  if (inspectResponse(bytes, ERROR_FIELDS, 0, 0).errorSet) throw failure(RawPutResponse.decode(bytes));
}

/** Found unless not_found (field 4). */
function parseGet(bytes: Buffer): boolean {
  const facts = inspectResponse(bytes, ERROR_FIELDS, 0, 4);
  if (facts.errorSet) throw failure(RawGetResponse.decode(bytes));
  return !facts.flag;
}

/** The number of kvs (field 3). */
function parseScan(bytes: Buffer): number {
  const facts = inspectResponse(bytes, ERROR_FIELDS, 3, 0);
  if (facts.errorSet) throw failure(RawScanResponse.decode(bytes));
  return facts.count;
}

export class TinyKvTarget implements BenchTarget {
  readonly name: TargetName;
  description: string;
  private pool: ChannelPool | undefined;
  private readonly cf: Buffer;

  constructor(
    private readonly options: TinyKvTargetOptions,
    name: TargetName = 'tinykv',
  ) {
    this.name = name;
    this.description = options.addr;
    this.cf = Buffer.from(options.cf ?? 'default');
  }

  async connect(): Promise<void> {
    const pool = new ChannelPool([this.options.addr], this.options.connections);
    try {
      await pool.ready(this.options.connectTimeoutMs ?? 5000);
    } catch (err) {
      pool.close();
      throw err;
    }
    this.pool = pool;
    this.description = `${this.options.addr} (${pool.size} connection${pool.size === 1 ? '' : 's'})`;
  }

  put(key: Buffer, value: Buffer, lane: number): Promise<void> {
    return this.pool ? this.pool.call(lane, RAW_PUT, encodeRawPut(key, value, this.cf), parsePut) : notConnected(this.name);
  }

  get(key: Buffer, lane: number): Promise<boolean> {
    return this.pool ? this.pool.call(lane, RAW_GET, encodeRawGet(key, this.cf), parseGet) : notConnected(this.name);
  }

  scan(startKey: Buffer, limit: number, lane: number): Promise<number> {
    return this.pool ? this.pool.call(lane, RAW_SCAN, encodeRawScan(startKey, limit, this.cf), parseScan) : notConnected(this.name);
  }

  cancelInFlight(): void {
    this.pool?.cancelAll();
  }

  async close(): Promise<void> {
    this.pool?.close();
    this.pool = undefined;
  }
}
