// Receiving snapshots over TinyKv/Snapshot within bounds: concurrent streams, total buffered
// bytes, one snapshot's size, and timeouts for streams that stall; every refusal lets go of the
// stream's bytes at once.
import { credentials, Server, ServerCredentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { RaftMessage, SnapshotChunk } from '../../src/proto/raft_serverpb.js';
import { TinyKvClient, TinyKvService } from '../../src/proto/tinykvpb.js';
import { snapshotStreamHandler } from '../../src/transport/raft-service.js';
import { SnapshotRecvBudget, type SnapshotRecvLimits } from '../../src/transport/snapshot-receiver.js';
import { defined } from '../../src/util/assert.js';

const MiB = 1024 * 1024;
const head = RaftMessage.fromPartial({
  regionId: 1,
  fromPeer: { id: 1, storeId: 1 },
  toPeer: { id: 2, storeId: 2 },
  message: { msgType: MessageType.MsgSnapshot, from: 1, to: 2, term: 7, snapshot: { metadata: { index: 10, term: 7 } } },
});

let server: Server | undefined;
let client: TinyKvClient | undefined;

afterEach(async () => {
  client?.close();
  server?.forceShutdown();
  server = undefined;
  client = undefined;
});

async function serve(limits: Partial<SnapshotRecvLimits>) {
  const budget = new SnapshotRecvBudget({
    maxSizeBytes: 2 * MiB,
    maxTotalSizeBytes: 3 * MiB,
    maxConcurrent: 2,
    idleTimeoutMs: 5_000,
    timeoutMs: 30_000,
    ...limits,
  });
  const delivered: RaftMessage[] = [];
  server = new Server();
  server.addService(TinyKvService, { snapshot: snapshotStreamHandler((m) => delivered.push(m), budget) });
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  client = new TinyKvClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return { budget, delivered };
}

/** Opens a snapshot stream and sends its head; `result` settles with the server's answer. */
function openStream() {
  let settle!: (err: ServiceError | null) => void;
  const result = new Promise<ServiceError | null>((resolve) => (settle = resolve));
  const stream = client!.snapshot((err) => settle(err));
  stream.on('error', () => {});
  stream.write(SnapshotChunk.fromPartial({ message: head }));
  const send = (sizeBytes: number) => stream.write(SnapshotChunk.fromPartial({ data: Buffer.alloc(sizeBytes, 1) }));
  return { stream, result, send };
}

async function until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('snapshot receive bounds', () => {
  it('delivers a snapshot within bounds and frees its slot and bytes', async () => {
    const { budget, delivered } = await serve({});
    const a = openStream();
    a.send(MiB);
    a.send(MiB);
    a.stream.end();
    expect(await a.result).toBeNull();
    expect(delivered).toHaveLength(1);
    expect(defined(delivered[0], 'delivered[0]').message!.snapshot!.data.length).toBe(2 * MiB);
    expect(budget.activeStreams).toBe(0);
    expect(budget.bufferedBytes).toBe(0);
  });

  it('refuses a stream beyond the concurrent limit with RESOURCE_EXHAUSTED', async () => {
    const { budget } = await serve({ maxConcurrent: 2 });
    const a = openStream();
    const b = openStream();
    await until(() => budget.activeStreams === 2);
    const c = openStream();
    const refused = await c.result;
    expect(refused?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(refused?.metadata.get('tinykv-error-code')).toEqual(['KV:Server:SnapshotRecvBusy']);
    a.stream.end();
    b.stream.end();
    await Promise.all([a.result, b.result]);
    expect(budget.activeStreams).toBe(0);
  });

  it('refuses the stream that would pass the total buffered bytes, and releases its bytes', async () => {
    const { budget, delivered } = await serve({ maxSizeBytes: 2 * MiB, maxTotalSizeBytes: 3 * MiB });
    const a = openStream();
    a.send(MiB);
    a.send(MiB);
    await until(() => budget.bufferedBytes === 2 * MiB);
    const b = openStream();
    b.send(MiB);
    await until(() => budget.bufferedBytes === 3 * MiB);
    b.send(MiB);
    const refused = await b.result;
    expect(refused?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(refused?.details).toMatch(/exceed/);
    expect(budget.bufferedBytes).toBe(2 * MiB);
    expect(budget.activeStreams).toBe(1);
    a.stream.end();
    expect(await a.result).toBeNull();
    expect(delivered).toHaveLength(1);
    expect(budget.bufferedBytes).toBe(0);
  });

  it('refuses a snapshot larger than the per-snapshot bound', async () => {
    const { budget } = await serve({ maxSizeBytes: 2 * MiB, maxTotalSizeBytes: 8 * MiB });
    const a = openStream();
    for (let i = 0; i < 3; i++) a.send(MiB);
    const refused = await a.result;
    expect(refused?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(refused?.metadata.get('tinykv-error-code')).toEqual(['KV:Server:SnapshotTooLarge']);
    expect(budget.bufferedBytes).toBe(0);
  });

  it('cancels a stream that stalls with DEADLINE_EXCEEDED and lets go of its bytes', async () => {
    const { budget } = await serve({ idleTimeoutMs: 300 });
    const a = openStream();
    a.send(MiB);
    await until(() => budget.bufferedBytes === MiB);
    const started = Date.now();
    const cancelled = await a.result;
    expect(cancelled?.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(cancelled?.metadata.get('tinykv-error-code')).toEqual(['KV:Server:SnapshotRecvTimeout']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(budget.bufferedBytes).toBe(0);
    expect(budget.activeStreams).toBe(0);
  });

  it('cancels a stream that trickles past the overall timeout', async () => {
    const { budget } = await serve({ idleTimeoutMs: 400, timeoutMs: 1_000 });
    const a = openStream();
    const trickle = setInterval(() => a.send(1024), 100);
    try {
      const cancelled = await a.result;
      expect(cancelled?.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
      expect(cancelled?.details).toMatch(/not done in 1000 ms/);
    } finally {
      clearInterval(trickle);
    }
    expect(budget.activeStreams).toBe(0);
    expect(budget.bufferedBytes).toBe(0);
  });

  it('releases the bytes of a stream its sender cancels', async () => {
    const { budget } = await serve({});
    const a = openStream();
    a.send(MiB);
    await until(() => budget.bufferedBytes === MiB);
    a.stream.cancel();
    await until(() => budget.activeStreams === 0);
    expect(budget.bufferedBytes).toBe(0);
  });
});
