// The Raw API over real gRPC on loopback, against an in-process node on LMDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import { fromServiceError } from '../../src/client/errors.js';
import { RawGetRequest, RawPutRequest, RawDeleteRequest, RawScanRequest } from '../../src/proto/kvrpcpb.js';
import { TinyKvClient as TinyKvGrpcClient } from '../../src/proto/tinykvpb.js';
import { callUnary, type UnaryMethod } from '../../src/rpc/unary.js';
import { silentLogger } from '../../src/log/logger.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string) => Buffer.from(s);

/**
 * One RPC sent as is, for input the client library refuses before sending (empty keys, a scan
 * limit above the server's bound): these tests are about what the server answers.
 */
async function sendRaw<Req, Res extends { error: string }>(pick: (c: TinyKvGrpcClient) => UnaryMethod<Req, Res>, request: Req): Promise<Res> {
  const grpc = new TinyKvGrpcClient(node.addr, credentials.createInsecure());
  try {
    const response = await callUnary(grpc, pick(grpc), request, { timeoutMs: 10_000 }, (err) => fromServiceError(err, 'raw'));
    if (response.error !== '') throw new Error(response.error);
    return response;
  } finally {
    grpc.close();
  }
}

let node: TinyKvNode;
let client: TinyKvClient;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  // Raw writes to lock/write are refused by default (api-hardening.test.ts); these tests are about
  // the column families as the Raw API sees them, so the node allows them.
  node = await startServer({
    addr: '127.0.0.1:0',
    dataDir: dir.path,
    logger: silentLogger(),
    allowRawTxnCfWrites: true,
    limits: { maxValueSizeBytes: 64 * 1024 },
  });
  client = await connect({ node: node.addr, maxRetries: 0 });
});

afterAll(async () => {
  await client.close();
  await node.close();
  dir.cleanup();
});

describe('Raw API semantics (TinyKV project 1)', () => {
  it('gets a value that was put', async () => {
    await client.put(Buffer.from([99]), Buffer.from([42]));
    expect(await client.get(Buffer.from([99]))).toEqual(Buffer.from([42]));
  });

  it('reports not_found for a missing key', async () => {
    expect(await client.get(b('never-written'))).toBeUndefined();
  });

  it('keeps the same key in different column families apart', async () => {
    await client.put(b('cfkey'), Buffer.from([42]), { cf: 'default' });
    await client.put(b('cfkey'), Buffer.from([44]), { cf: 'write' });
    expect(await client.get(b('cfkey'), { cf: 'default' })).toEqual(Buffer.from([42]));
    expect(await client.get(b('cfkey'), { cf: 'write' })).toEqual(Buffer.from([44]));
    expect(await client.get(b('cfkey'), { cf: 'lock' })).toBeUndefined();
  });

  it('treats an empty cf as default', async () => {
    await client.put(b('empty-cf'), b('v'), { cf: '' });
    expect(await client.get(b('empty-cf'), { cf: 'default' })).toEqual(b('v'));
  });

  it('deletes a key', async () => {
    await client.put(b('del'), b('v'));
    await client.delete(b('del'));
    expect(await client.get(b('del'))).toBeUndefined();
    await client.delete(b('del')); // deleting a missing key is not an error
  });

  it('scans from start_key up to limit in byte order, skipping deleted keys', async () => {
    const lock = { cf: 'lock' };
    for (let i = 1; i <= 5; i++) await client.put(Buffer.from([1, i]), Buffer.from([100 + i]), lock);
    const three = await client.scan(Buffer.from([1, 1]), undefined, 3, lock);
    expect(three.map((p) => [...p.key])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    expect(three.map((p) => p.value[0])).toEqual([101, 102, 103]);
    await client.delete(Buffer.from([1, 3]), lock);
    const rest = await client.scan(Buffer.from([1]), undefined, 10, lock);
    expect(rest.map((p) => p.key[1])).toEqual([1, 2, 4, 5]);
    // The client answers a zero limit itself; the server must answer it with nothing too.
    expect(await client.scan(Buffer.from([1, 1]), undefined, 0, lock)).toEqual([]);
    expect((await sendRaw((c) => c.rawScan, RawScanRequest.fromPartial({ startKey: Buffer.from([1, 1]), limit: 0, cf: 'lock' }))).kvs).toEqual([]);
    expect(await client.scan(Buffer.from([]), undefined, 2, lock)).toHaveLength(2);
  });

  it('stores binary keys and values exactly', async () => {
    const key = Buffer.from([0, 255, 0, 10, 13]);
    const value = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    await client.put(key, value);
    expect(await client.get(key)).toEqual(value);
  });
});

describe('bad input gets a clear error and the server keeps serving', () => {
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['unknown column family', () => client.put(b('k'), b('v'), { cf: 'nope' }), 'KV:Server:UnknownColumnFamily'],
    ['unknown column family on get', () => client.get(b('k'), { cf: 'nope' }), 'KV:Server:UnknownColumnFamily'],
    ['unknown column family on scan', () => client.scan(b('k'), undefined, 1, { cf: 'DEFAULT' }), 'KV:Server:UnknownColumnFamily'],
    ['empty key on put', () => sendRaw((c) => c.rawPut, RawPutRequest.fromPartial({ key: b(''), value: b('v') })), 'KV:Server:EmptyKey'],
    ['empty key on get', () => sendRaw((c) => c.rawGet, RawGetRequest.fromPartial({ key: b('') })), 'KV:Server:EmptyKey'],
    ['empty key on delete', () => sendRaw((c) => c.rawDelete, RawDeleteRequest.fromPartial({ key: b('') })), 'KV:Server:EmptyKey'],
    ['oversized key', () => client.put(Buffer.alloc(1025, 1), b('v')), 'KV:Server:KeyTooLarge'],
    ['oversized value', () => client.put(b('k'), Buffer.alloc(64 * 1024 + 1)), 'KV:Server:ValueTooLarge'],
    ['empty value', () => client.put(b('k'), Buffer.alloc(0)), 'KV:Server:EmptyValue'],
    [
      'scan limit above the bound',
      () => sendRaw((c) => c.rawScan, RawScanRequest.fromPartial({ startKey: b('a'), limit: 10_001 })),
      'KV:Server:ScanLimitTooLarge',
    ],
  ];

  it.each(cases)('%s → INVALID_ARGUMENT with a stable code', async (_name, run, code) => {
    await expect(run()).rejects.toMatchObject({ serverCode: code, grpcStatus: GrpcStatus.INVALID_ARGUMENT });
    await client.put(b('still-alive'), b('yes'));
    expect(await client.get(b('still-alive'))).toEqual(b('yes'));
  });

  it('leaves no trace of a rejected put', async () => {
    await expect(client.put(b('rejected'), Buffer.alloc(64 * 1024 + 1))).rejects.toThrow();
    expect(await client.get(b('rejected'))).toBeUndefined();
  });

  it('answers a message above the size bound with RESOURCE_EXHAUSTED', async () => {
    const big = await connect({ node: node.addr, maxRetries: 0, maxMessageBytes: 64 * 1024 * 1024 });
    try {
      await expect(big.put(b('k'), Buffer.alloc(9 * 1024 * 1024))).rejects.toMatchObject({ grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED });
    } finally {
      await big.close();
    }
  });

  it('answers undecodable request bytes with an error status, then keeps serving', async () => {
    const raw = new Client(node.addr, credentials.createInsecure());
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // field 1, length far past the end
    const result = await new Promise<{ code: number }>((resolve) => {
      raw.makeUnaryRequest(
        '/tinykvpb.TinyKv/RawGet',
        (x: Buffer) => x,
        (x: Buffer) => x,
        garbage,
        new Metadata(),
        {},
        (err) => resolve({ code: err ? err.code : GrpcStatus.OK }),
      );
    });
    raw.close();
    expect(result.code).not.toBe(GrpcStatus.OK);
    expect(await client.get(b('still-alive'))).toEqual(b('yes'));
  });

  it('answers UNIMPLEMENTED for RPCs whose issue has not landed', async () => {
    const raw = new Client(node.addr, credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      raw.makeUnaryRequest(
        '/tinykvpb.TinyKv/Coprocessor',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err) => resolve(err ? err.code : GrpcStatus.OK),
      );
    });
    raw.close();
    expect(code).toBe(GrpcStatus.UNIMPLEMENTED);
  });

  it('answers UNIMPLEMENTED for an unknown method', async () => {
    const raw = new Client(node.addr, credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      raw.makeUnaryRequest(
        '/tinykvpb.TinyKv/NoSuchMethod',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err) => resolve(err ? err.code : GrpcStatus.OK),
      );
    });
    raw.close();
    expect(code).toBe(GrpcStatus.UNIMPLEMENTED);
  });
});

describe('concurrency', () => {
  it('serves 500 concurrent puts and reads every one back', async () => {
    const n = 500;
    await Promise.all(Array.from({ length: n }, (_, i) => client.put(b(`conc-${String(i).padStart(4, '0')}`), b(`v${i}`))));
    const pairs = await client.scan(b('conc-'), undefined, n + 10);
    expect(pairs.filter((p) => p.key.toString().startsWith('conc-'))).toHaveLength(n);
    expect((await client.get(b('conc-0499')))?.toString()).toBe('v499');
  });
});
