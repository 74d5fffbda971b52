/**
 * An etcd v3 cluster through its KV service: Put for puts, Range for gets (one key) and scans
 * ([start, end of the bench keys) with a limit). Gets and scans are linearizable unless
 * `serializable` is set (member-local reads). Channels are spread round-robin over the endpoints
 * and every client loop sticks to one channel, so the clients spread evenly over the members;
 * writes sent to a follower are forwarded to the leader by etcd itself, as for any etcd client.
 */
import { KVService } from '../proto-gen/etcd_kv.js';
import { encodeEtcdPut, encodeEtcdRange, inspectResponse } from '../wire.js';
import { KEY_RANGE_END } from '../workload.js';
import { ChannelPool, notConnected } from './channel-pool.js';
import type { BenchTarget, TargetName } from './target.js';

const KV_PUT = KVService.put.path;
const KV_RANGE = KVService.range.path;
const EMPTY = Buffer.alloc(0);

export interface EtcdTargetOptions {
  /** Client URLs or host:port pairs, e.g. http://127.0.0.1:2379. */
  readonly endpoints: readonly string[];
  /** gRPC channels to open in all (at least one per endpoint). */
  readonly connections: number;
  /** Serve reads from the member asked (possibly stale) instead of linearizable reads. */
  readonly serializable?: boolean;
  readonly connectTimeoutMs?: number;
}

/** "http://host:port" or "host:port" → "host:port". TLS endpoints are not supported. */
export function endpointAddress(endpoint: string): string {
  const trimmed = endpoint.trim();
  if (/^https:\/\//i.test(trimmed)) throw new Error(`TLS endpoints are not supported: ${endpoint}`);
  const addr = trimmed.replace(/^http:\/\//i, '').replace(/\/+$/, '');
  if (!/^.+:\d+$/.test(addr)) throw new Error(`etcd endpoint must be host:port or http://host:port, got "${endpoint}"`);
  return addr;
}

// etcd reports failures as gRPC statuses, so a response is a success; it is walked (bench/wire.ts)
// only to count RangeResponse.kvs (field 2), not decoded. PutResponse carries nothing we need.
const parsePut = (): void => {};

const parseGet = (bytes: Buffer): boolean => inspectResponse(bytes, 0, 2, 0).count > 0;

const parseScan = (bytes: Buffer): number => inspectResponse(bytes, 0, 2, 0).count;

export class EtcdTarget implements BenchTarget {
  readonly name: TargetName = 'etcd';
  description: string;
  private pool: ChannelPool | undefined;
  private readonly addrs: string[];
  private readonly serializable: boolean;

  constructor(private readonly options: EtcdTargetOptions) {
    if (options.endpoints.length === 0) throw new Error('--target etcd needs --endpoints host:port[,host:port...]');
    this.addrs = options.endpoints.map(endpointAddress);
    this.serializable = options.serializable ?? false;
    this.description = this.addrs.join(',');
  }

  async connect(): Promise<void> {
    const pool = new ChannelPool(this.addrs, this.options.connections);
    try {
      await pool.ready(this.options.connectTimeoutMs ?? 5000);
    } catch (err) {
      pool.close();
      throw err;
    }
    this.pool = pool;
    const reads = this.serializable ? 'serializable' : 'linearizable';
    this.description = `${this.addrs.join(',')} (${pool.size} connections, ${reads} reads)`;
  }

  put(key: Buffer, value: Buffer, lane: number): Promise<void> {
    return this.pool ? this.pool.call(lane, KV_PUT, encodeEtcdPut(key, value), parsePut) : notConnected(this.name);
  }

  get(key: Buffer, lane: number): Promise<boolean> {
    return this.pool ? this.pool.call(lane, KV_RANGE, encodeEtcdRange(key, EMPTY, 0, this.serializable), parseGet) : notConnected(this.name);
  }

  scan(startKey: Buffer, limit: number, lane: number): Promise<number> {
    const request = encodeEtcdRange(startKey, KEY_RANGE_END, limit, this.serializable);
    return this.pool ? this.pool.call(lane, KV_RANGE, request, parseScan) : notConnected(this.name);
  }

  cancelInFlight(): void {
    this.pool?.cancelAll();
  }

  async close(): Promise<void> {
    this.pool?.close();
    this.pool = undefined;
  }
}
