// The client's BatchCommands transport (StorePool over batch-channel.ts) against fake stores: a
// store without BatchCommands (a TinyKV server answers UNIMPLEMENTED) gets the same calls unary;
// a store that never answers fails each call at its deadline; answers come back to the right
// callers whatever their order.
import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, status as GrpcStatus, type ServerDuplexStream, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { RawGetResponse, type RawGetRequest } from '../../src/proto/kvrpcpb.js';
import { TinyKvService, type BatchCommandsRequest, type BatchCommandsResponse } from '../../src/proto/tinykvpb.js';
import { unimplementedService } from '../../src/rpc/grpc-service.js';
import { StorePool } from '../../src/client/store-pool.js';
import { ClientError } from '../../src/client/errors.js';

const servers: Server[] = [];
const pools: StorePool[] = [];
afterEach(() => {
  for (const pool of pools.splice(0)) pool.close();
  for (const server of servers.splice(0)) server.forceShutdown();
});

async function fakeStore(
  batchCommands?: (call: ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>) => void,
): Promise<{ addr: string; unaryGets: () => number }> {
  let unaryGets = 0;
  const server = new Server();
  server.addService(TinyKvService, {
    ...unimplementedService(TinyKvService, () => 'a fake store'),
    rawGet: (call: ServerUnaryCall<RawGetRequest, RawGetResponse>, callback: sendUnaryData<RawGetResponse>) => {
      unaryGets++;
      callback(null, RawGetResponse.fromPartial({ value: Buffer.concat([Buffer.from('unary:'), call.request.key]) }));
    },
    ...(batchCommands ? { batchCommands } : {}),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  return { addr: `127.0.0.1:${port}`, unaryGets: () => unaryGets };
}

const get = (key: string): RawGetRequest => ({ context: undefined, key: Buffer.from(key), cf: 'default' });

describe('StorePool over BatchCommands', () => {
  it('falls back to unary calls, for good, on a store that has no BatchCommands', async () => {
    const store = await fakeStore();
    const pool = new StorePool({ timeoutMs: 5_000, batchCommands: true });
    pools.push(pool);
    const first = await Promise.all(['a', 'b', 'c'].map((k) => pool.call(store.addr, 'rawGet', get(k))));
    expect(first.map((r) => Buffer.from(r.value).toString())).toEqual(['unary:a', 'unary:b', 'unary:c']);
    const later = await pool.call(store.addr, 'rawGet', get('d'));
    expect(Buffer.from(later.value).toString()).toBe('unary:d');
    expect(store.unaryGets()).toBe(4);
  });

  it('answers each caller by id whatever the order, and fails a call past its deadline', async () => {
    const store = await fakeStore((call) => {
      call.on('data', (batch: BatchCommandsRequest) => {
        // Answer in reverse order, and never answer a key named "silent".
        const answered = batch.requests
          .map((r, i) => ({ key: Buffer.from(r.rawGet!.key).toString(), id: batch.requestIds[i]! }))
          .reverse()
          .filter((x) => x.key !== 'silent');
        call.write({
          responses: answered.map((x) => ({ error: undefined, rawGet: RawGetResponse.fromPartial({ value: Buffer.from(`batched:${x.key}`) }) })),
          requestIds: answered.map((x) => x.id),
        });
      });
    });
    const pool = new StorePool({ timeoutMs: 300, batchCommands: true });
    pools.push(pool);
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const silent = pool.call(store.addr, 'rawGet', get('silent')).catch((err: unknown) => err);
    const answers = await Promise.all(keys.map((k) => pool.call(store.addr, 'rawGet', get(k))));
    expect(answers.map((r) => Buffer.from(r.value).toString())).toEqual(keys.map((k) => `batched:${k}`));
    expect(store.unaryGets()).toBe(0);
    const err = await silent;
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).grpcStatus).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });
});
