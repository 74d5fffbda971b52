/**
 * A small promise client for the Raw API of one node. Server-side errors arrive as
 * TinyKvClientError carrying the server's stable error code.
 */
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { TinyKvClient } from '../proto/tinykvpb.js';
import { RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest } from '../proto/kvrpcpb.js';
import { toBuffer } from '../util/bytes.js';
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import { TinyKvError } from '../util/errors.js';

export class TinyKvClientError extends TinyKvError {
  constructor(
    message: string,
    /** The server's stable code (e.g. KV:Server:KeyTooLarge), or KV:Client:Transport. */
    code: string,
    readonly grpcStatus: GrpcStatus,
  ) {
    super(code, message);
  }
}

export interface RawPair {
  readonly key: Buffer;
  readonly value: Buffer;
}

export type Bytes = Uint8Array | string;

export interface RawClient {
  /** The value, or undefined when the key is absent. */
  get(key: Bytes, cf?: string): Promise<Buffer | undefined>;
  put(key: Bytes, value: Bytes, cf?: string): Promise<void>;
  delete(key: Bytes, cf?: string): Promise<void>;
  /** Up to `limit` pairs from `startKey` on, in byte order. */
  scan(startKey: Bytes, limit: number, cf?: string): Promise<RawPair[]>;
  close(): void;
}

export interface RawClientOptions {
  /** Per-call deadline. */
  readonly timeoutMs?: number;
  readonly maxMessageSizeBytes?: number;
}

export function createRawClient(addr: string, options: RawClientOptions = {}): RawClient {
  const maxMessage = options.maxMessageSizeBytes ?? 16 * 1024 * 1024;
  const client = new TinyKvClient(addr, credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': maxMessage,
  });
  const timeoutMs = options.timeoutMs ?? 10_000;

  function call<Req, Res>(
    method: (req: Req, metadata: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
    request: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(client, request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
        if (err) reject(toClientError(err));
        else resolve(res);
      });
    });
  }

  return {
    async get(key, cf = 'default') {
      const res = await call(client.rawGet, RawGetRequest.fromPartial({ key: toBuffer(key), cf }));
      checkResponse(res);
      return res.notFound ? undefined : res.value;
    },
    async put(key, value, cf = 'default') {
      const res = await call(client.rawPut, RawPutRequest.fromPartial({ key: toBuffer(key), value: toBuffer(value), cf }));
      checkResponse(res);
    },
    async delete(key, cf = 'default') {
      const res = await call(client.rawDelete, RawDeleteRequest.fromPartial({ key: toBuffer(key), cf }));
      checkResponse(res);
    },
    async scan(startKey, limit, cf = 'default') {
      const res = await call(client.rawScan, RawScanRequest.fromPartial({ startKey: toBuffer(startKey), limit, cf }));
      checkResponse(res);
      return res.kvs.map((kv) => ({ key: kv.key, value: kv.value }));
    },
    close() {
      client.close();
    },
  };
}

/** A region error from the server (wrong store, not leader, ...): retry elsewhere after refreshing. */
function regionErrorToClientError(regionError: RegionErrorPb): TinyKvClientError {
  const kind = regionError.notLeader
    ? 'NotLeader'
    : regionError.regionNotFound
      ? 'RegionNotFound'
      : regionError.keyNotInRegion
        ? 'KeyNotInRegion'
        : regionError.epochNotMatch
          ? 'EpochNotMatch'
          : regionError.staleCommand
            ? 'StaleCommand'
            : regionError.storeNotMatch
              ? 'StoreNotMatch'
              : 'Unknown';
  return new TinyKvClientError(regionError.message || kind, `KV:Region:${kind}`, GrpcStatus.OK);
}

function checkResponse(res: { regionError?: RegionErrorPb; error: string }): void {
  if (res.regionError) throw regionErrorToClientError(res.regionError);
  if (res.error) throw new TinyKvClientError(res.error, 'KV:Server:Error', GrpcStatus.UNKNOWN);
}

function toClientError(err: ServiceError): TinyKvClientError {
  const code = err.metadata?.get('tinykv-error-code')[0];
  return new TinyKvClientError(err.details || err.message, typeof code === 'string' ? code : 'KV:Client:Transport', err.code);
}
