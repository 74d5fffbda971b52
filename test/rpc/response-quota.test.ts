/**
 * The response memory quota's accounting over a real gRPC server: every byte it counts is given
 * back when the call is over (answered and read, refused, failed, or abandoned by the client), so
 * the quota never leaks into refusing healthy traffic.
 */
import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { RawScanRequest } from '../../src/proto/kvrpcpb.js';
import { TinyKvClient, TinyKvService } from '../../src/proto/tinykvpb.js';
import { CallTracker } from '../../src/rpc/grpc-service.js';
import { acceptingEncodedResponses, type ResponseMemoryQuota } from '../../src/rpc/response-quota.js';
import { boundedServerOptions } from '../../src/rpc/server-options.js';
import { tinyKvImplementation } from '../../src/server/tinykv-service.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await sleep(20);
  }
}

function unary<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

async function serve(quotaBytes: number): Promise<{ client: TinyKvClient; quota: ResponseMemoryQuota; addr: string }> {
  const { options, quota } = boundedServerOptions({
    maxReceiveMessageBytes: 8 << 20,
    maxSendMessageBytes: 8 << 20,
    maxConcurrentStreams: 1024,
    memoryQuotaBytes: quotaBytes,
  });
  const server = new Server(options);
  const storage = new StandaloneStorage(new MemoryEngine());
  server.addService(acceptingEncodedResponses(TinyKvService), tinyKvImplementation(storage, DEFAULT_CONFIG, new CallTracker(), silentLogger()));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const addr = `127.0.0.1:${port}`;
  const client = new TinyKvClient(addr, credentials.createInsecure());
  cleanups.push(
    () => server.forceShutdown(),
    () => client.close(),
  );
  return { client, quota, addr };
}

const scanAll = { context: undefined, startKey: Buffer.alloc(0), limit: 10_000, cf: 'default' };

async function load(client: TinyKvClient, count: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, 1);
  for (let i = 0; i < count; i++) {
    await unary((cb) => client.rawPut({ context: undefined, key: Buffer.from(`k${String(i).padStart(4, '0')}`), value, cf: 'default' }, cb));
  }
}

describe('response memory quota', () => {
  it('gives back every byte of answered, failed and small calls', async () => {
    const { client, quota } = await serve(16 << 20);
    await load(client, 50, 10 * 1024);
    for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 10 }, () => unary((cb) => client.rawScan(scanAll, cb))));
    const bad = await unary((cb) => client.rawGet({ context: undefined, key: Buffer.alloc(0), cf: 'default' }, cb)).catch((e: ServiceError) => e);
    expect((bad as ServiceError).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    await until(() => quota.inUseBytes === 0);
  });

  it('holds unread answers up to the quota, refuses the rest, and gives everything back when the client goes away', async () => {
    const limit = 8 << 20;
    const { client, quota, addr } = await serve(limit);
    await load(client, 100, 10 * 1024); // ~1 MB per full scan
    const session = connect(`http://${addr}`);
    session.on('error', () => {});
    cleanups.push(() => session.destroy());
    const body = RawScanRequest.encode(scanAll).finish();
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt32BE(body.length, 1);
    framed.set(body, 5);
    let refused = 0;
    for (let i = 0; i < 30; i++) {
      const stream = session.request({ ':method': 'POST', ':path': '/tinykvpb.TinyKv/RawScan', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => {});
      const onStatus = (h: Record<string, unknown>) => h['grpc-status'] === '8' && refused++;
      stream.on('response', onStatus);
      stream.on('trailers', onStatus);
      stream.end(framed);
    }
    await until(() => refused >= 20);
    expect(quota.inUseBytes).toBeGreaterThan(limit / 2);
    expect(quota.inUseBytes).toBeLessThanOrEqual(limit);

    // Large answers are refused now; a small one still fits in the reserve.
    const scan = await unary((cb) => client.rawScan(scanAll, cb)).catch((e: ServiceError) => e);
    expect((scan as ServiceError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect((scan as ServiceError).metadata.get('tinykv-error-code')).toEqual(['KV:Server:MemoryQuotaExceeded']);
    const small = await unary<{ value: Buffer }>((cb) => client.rawGet({ context: undefined, key: Buffer.from('k0001'), cf: 'default' }, cb));
    expect(small.value.length).toBe(10 * 1024);

    session.destroy();
    await until(() => quota.inUseBytes === 0);
    const again = await unary<{ kvs: unknown[] }>((cb) => client.rawScan(scanAll, cb));
    expect(again.kvs).toHaveLength(100);
  });
});
