/**
 * Tso streams over real gRPC: every request is answered before a half-closed stream ends (also
 * when the answer waits for the timestamp window to be saved), and a client that sends without
 * reading stops being read instead of growing the server's memory.
 */
import { once } from 'node:events';
import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ManualClock } from '../../src/env/clock.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import type { WriteOp, WriteOptions } from '../../src/engine/engine.js';
import { SchedulerClient as GrpcSchedulerClient, SchedulerService, TsoRequest, type TsoResponse } from '../../src/proto/schedulerpb.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { standaloneSchedulerService } from '../../src/scheduler/standalone-scheduler.js';
import { TimestampOracle, type TsoPersistence } from '../../src/scheduler/tso.js';
import { CallTracker } from '../../src/rpc/grpc-service.js';
import { silentLogger } from '../../src/log/logger.js';
import { defined } from '../../src/util/assert.js';

/** A gate that holds writes while shut. */
class Gate {
  private waiters: Array<() => void> = [];
  private shut = false;
  close(): void {
    this.shut = true;
  }
  open(): void {
    this.shut = false;
    for (const wake of this.waiters.splice(0)) wake();
  }
  get waiting(): number {
    return this.waiters.length;
  }
  pass(): Promise<void> {
    return this.shut ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }
}

/** A memory engine whose writes (the Tso window save among them) wait at a gate. */
class GatedEngine extends MemoryEngine {
  constructor(readonly gate: Gate) {
    super();
  }
  override async write(ops: readonly WriteOp[], options?: WriteOptions): Promise<void> {
    await this.gate.pass();
    return super.write(ops, options);
  }
}

interface Outcome {
  responses: TsoResponse[];
  status: GrpcStatus;
}

/**
 * Opens a Tso stream, sends `count` requests, half-closes once `beforeHalfClose` resolves, and
 * collects everything until the status.
 */
function sendAndHalfClose(client: GrpcSchedulerClient, clusterId: bigint, count: number, beforeHalfClose = Promise.resolve()): Promise<Outcome> {
  return new Promise((resolve) => {
    const responses: TsoResponse[] = [];
    const stream = client.tso();
    stream.on('data', (r: TsoResponse) => responses.push(r));
    stream.on('status', (s: { code: GrpcStatus }) => resolve({ responses, status: s.code }));
    stream.on('error', (err: ServiceError) => resolve({ responses, status: err.code }));
    for (let i = 0; i < count; i++) stream.write({ header: { clusterId }, count: 1 });
    void beforeHalfClose.then(() => stream.end());
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await sleep(10);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The standalone node's Scheduler service on its own server, over an oracle the test controls. */
async function standaloneTso(persistence: TsoPersistence, clock: ManualClock, wrap?: (oracle: TimestampOracle) => TimestampOracle) {
  const oracle = await TimestampOracle.start(clock, persistence);
  const server = new Server();
  const clusterId = 7n;
  server.addService(
    SchedulerService,
    standaloneSchedulerService({
      clusterId,
      oracle: wrap ? wrap(oracle) : oracle,
      advertiseAddr: () => 'unused',
      tracker: new CallTracker(),
      logger: silentLogger(),
    }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new GrpcSchedulerClient(`127.0.0.1:${port}`, credentials.createInsecure());
  cleanups.push(
    () => server.forceShutdown(),
    () => client.close(),
  );
  return { client, clusterId, port };
}

describe('Tso stream: every request is answered before the stream ends', () => {
  it('standalone: one request waiting for the window to be saved, then half-close: one answer, status OK', async () => {
    const gate = new Gate();
    let saved = 0;
    const persistence: TsoPersistence = {
      load: () => saved,
      save: async (untilMs) => {
        await gate.pass();
        saved = untilMs;
      },
    };
    const clock = new ManualClock(1_000_000);
    const { client, clusterId } = await standaloneTso(persistence, clock);
    // The window saved at start is used up: the next request waits for a save, which the gate holds.
    clock.advance(60_000);
    gate.close();
    // Half-close only once the request waits for the save; give the half-close time to arrive
    // before the save completes (without the fix the stream ends right then, unanswered).
    const outcome = sendAndHalfClose(
      client,
      clusterId,
      1,
      until(() => gate.waiting > 0),
    );
    await until(() => gate.waiting > 0);
    await sleep(300);
    gate.open();
    const { responses, status } = await outcome;
    expect(status).toBe(GrpcStatus.OK);
    expect(responses).toHaveLength(1);
    expect(defined(responses[0], 'responses[0]').count).toBe(1);
    expect(defined(responses[0], 'responses[0]').timestamp!.physical).toBe(BigInt(clock.nowMs()));
  });

  it('scheduler: requests waiting for the window to be saved, then half-close: every answer, status OK', async () => {
    const gate = new Gate();
    const clock = new ManualClock(2_000_000);
    const scheduler: SchedulerHandle = await startScheduler({ addr: '127.0.0.1:0', engine: new GatedEngine(gate), clock });
    const client = new GrpcSchedulerClient(scheduler.addr, credentials.createInsecure());
    cleanups.push(
      () => scheduler.close(),
      () => client.close(),
    );
    clock.advance(60_000);
    gate.close();
    const outcome = sendAndHalfClose(
      client,
      scheduler.clusterId,
      3,
      until(() => gate.waiting > 0),
    );
    await until(() => gate.waiting > 0);
    await sleep(300);
    gate.open();
    const { responses, status } = await outcome;
    expect(status).toBe(GrpcStatus.OK);
    expect(responses).toHaveLength(3);
  });
});

describe('Tso stream: a client that sends without reading is not read without bound', () => {
  it('stops reading requests while answers pile up unread, and keeps answering other streams', async () => {
    let allocations = 0;
    const clock = new ManualClock(3_000_000);
    let saved = 0;
    const persistence: TsoPersistence = { load: () => saved, save: async (untilMs) => void (saved = untilMs) };
    const { client, clusterId, port } = await standaloneTso(persistence, clock, (oracle) => {
      const counting = Object.create(oracle) as TimestampOracle;
      counting.allocate = (count: number) => {
        allocations++;
        return oracle.allocate(count);
      };
      return counting;
    });

    // A raw HTTP/2 client writes framed requests as fast as the server takes them and never reads.
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const greedy = session.request({ ':method': 'POST', ':path': '/schedulerpb.Scheduler/Tso', 'content-type': 'application/grpc', te: 'trailers' });
    greedy.on('error', () => {});
    cleanups.push(() => {
      session.destroy();
    });
    const message = TsoRequest.encode({ header: { clusterId }, count: 1 }).finish();
    const one = Buffer.alloc(5 + message.length);
    one.writeUInt32BE(message.length, 1);
    one.set(message, 5);
    const perChunk = 5_000;
    const chunk = Buffer.concat(Array.from({ length: perChunk }, () => one));
    const total = 200_000;
    let written = 0;
    while (written < total) {
      written += perChunk;
      if (!greedy.write(chunk)) {
        const drained = await Promise.race([once(greedy, 'drain').then(() => true), sleep(3_000).then(() => false)]);
        if (!drained) break;
      }
    }
    await sleep(500);
    // Answers unread fill the stream's HTTP/2 window and the write buffer, then the server stops
    // reading. Without the bound it reads and answers (buffers) every request.
    console.log(`tso: ${allocations} of ${written} written requests allocated`);
    expect(allocations).toBeLessThan(20_000);
    expect(written).toBeLessThan(total);

    // Another stream on the same server still gets its answer.
    const other = await sendAndHalfClose(client, clusterId, 1);
    expect(other.status).toBe(GrpcStatus.OK);
    expect(other.responses).toHaveLength(1);
  });
});
