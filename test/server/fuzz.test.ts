// Issue #9: "A fuzz test drives every unary method and every stream with random and mutated
// messages from a seed and asserts the node still answers a RawGet afterwards."
//
// Targets, each real `tinykv` processes started by the compiled CLI (so a crash is an exit, not a
// dead test runner):
// (a) a standalone node, which serves TinyKv and the Scheduler subset on one port;
// (b) a three-store cluster (a `tinykv scheduler` and three `tinykv server --scheduler`): one
//     store's TinyKv and the scheduler get the barrage, and Raft messages forged as coming from
//     the region's REAL other members (real region, peer and store ids, learned from the
//     scheduler) reach the store's Raft past the gate: every MessageType, boundary numbers and
//     malformed shapes (test/helpers/forged-raft.ts). A one-store cluster could not test this: its
//     region has no other member, so every forged message is dropped at the gate.
// Every method of both services gets valid requests, the same with flipped bytes, truncated,
// random bytes, huge varints, field number 0, wrong wire types, stray end-groups and deep
// nesting. Every answer must be a clear status (never INTERNAL or UNKNOWN); afterwards every
// process must still be running (exit 70 is a fail-stop: a forged message must never cause one),
// and RawPut/RawGet must answer correctly.
//
// Seed: TINYKV_FUZZ_SEED replays a run (the seed is printed). TINYKV_FUZZ_ITERATIONS sets the
// messages per target (default 2500: several seconds per target; the whole file stays under ~40 s).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Peer } from '../../src/proto/metapb.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, status as GrpcStatus, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { connect } from '../../src/client/index.js';
import { TinyKvClient, TinyKvService } from '../../src/proto/tinykvpb.js';
import { SchedulerService } from '../../src/proto/schedulerpb.js';
import { METHOD_REQUESTS, MESSAGE_FIELDS } from '../../src/proto/wire-schema.js';
import {
  BatchRollbackRequest,
  CheckTxnStatusRequest,
  CommitRequest,
  GetRequest,
  Op,
  PrewriteRequest,
  RawDeleteRequest,
  RawGetRequest,
  RawPutRequest,
  RawScanRequest,
  ResolveLockRequest,
  ScanRequest,
} from '../../src/proto/kvrpcpb.js';
import { BatchRaftMessage, RaftMessage, SnapshotChunk } from '../../src/proto/raft_serverpb.js';
import { Request as CoprocessorRequest } from '../../src/proto/coprocessor.js';
import { MessageType } from '../../src/proto/eraftpb.js';
import {
  SchedulerClient,
  type GetMembersResponse,
  AskSplitRequest,
  BootstrapRequest,
  GetRegionRequest,
  PutStoreRequest,
  RegionHeartbeatRequest,
  ScanRegionsRequest,
  StoreHeartbeatRequest,
  TsoRequest,
} from '../../src/proto/schedulerpb.js';
import { mulberry32 } from '../../src/raft/rng.js';
import { CLI_PATH, startSchedulerProcess, startServerProcess, type ServerProcess as CliServerProcess } from '../helpers/cli-process.js';
import { SchedulerClient as SchedulerApi } from '../../src/client/scheduler-client.js';
import { ALL_MESSAGE_TYPES, forgedRaftMessages, forgedRaftMessage, type RaftVictim } from '../helpers/forged-raft.js';
import { unhealthyReason } from '../helpers/store-health.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const seed = process.env['TINYKV_FUZZ_SEED'] !== undefined ? Number(process.env['TINYKV_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
const iterations = Number(process.env['TINYKV_FUZZ_ITERATIONS'] ?? 2500);
console.log(`[fuzz] seed=${seed} iterations=${iterations} (replay with TINYKV_FUZZ_SEED=${seed} TINYKV_FUZZ_ITERATIONS=${iterations})`);

/** A seeded source of random choices. */
class Rng {
  private readonly next: () => number;
  /** Ids the target really uses (its region, peers and stores), so forged requests name real things. */
  realIds: number[] = [];
  /** The target store's peer of a region and the region's other members: Raft messages forged from them pass the gate. */
  victim: RaftVictim | undefined;
  constructor(seedValue: number) {
    this.next = mulberry32(seedValue);
  }
  float(): number {
    return this.next();
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  pick<T>(items: readonly T[]): T {
    return defined(items[this.int(items.length)], 'items[this.int(items.length)]');
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
  /** A number that is often a boundary value. */
  u64(): bigint {
    return this.pick([0n, 1n, 2n, 100n, (1n << 32n) - 1n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n, BigInt(this.int(2 ** 31))]);
  }
  smallId(): number {
    if (this.realIds.length > 0 && this.float() < 0.5) return this.pick(this.realIds);
    return this.pick([0, 1, 2, 3, 1000, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER]);
  }
  key(): Buffer {
    return this.pick([Buffer.alloc(0), Buffer.from('k'), Buffer.from(`fuzz-${this.int(10)}`), this.bytes(this.int(40)), Buffer.alloc(3000, 7)]);
  }
}

/** Wire-format pieces. */
function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}
const tag = (field: number, wireType: number) => varint(BigInt(field * 8 + wireType));

/** A random message of `typeName` field by field, with any wire type: type-confused but often parseable. */
function randomWire(rng: Rng, typeName: string | undefined, depth: number): Buffer {
  const parts: Buffer[] = [];
  const nested = typeName === undefined ? {} : (MESSAGE_FIELDS[typeName] ?? {});
  const count = rng.int(6);
  for (let i = 0; i < count; i++) {
    const field = 1 + rng.int(12);
    const sub = (nested as Record<number, string>)[field];
    if (sub !== undefined && depth < 6 && rng.float() < 0.6) {
      const body = randomWire(rng, sub, depth + 1);
      parts.push(tag(field, 2), varint(BigInt(body.length)), body);
      continue;
    }
    switch (rng.int(4)) {
      case 0:
        parts.push(tag(field, 0), varint(rng.u64()));
        break;
      case 1: {
        const body = rng.bytes(rng.int(20));
        parts.push(tag(field, 2), varint(BigInt(body.length)), body);
        break;
      }
      case 2:
        parts.push(tag(field, 1), rng.bytes(8));
        break;
      default:
        parts.push(tag(field, 5), rng.bytes(4));
    }
  }
  return Buffer.concat(parts);
}

/** Deeply nested messages along the schema's first message field (or field 1 when it has none). */
function deepNesting(typeName: string | undefined, levels: number): Buffer {
  let body = Buffer.alloc(0);
  const chain: number[] = [];
  let type = typeName;
  for (let i = 0; i < levels; i++) {
    const fields = type === undefined ? {} : (MESSAGE_FIELDS[type] ?? {});
    const first = Object.keys(fields)[0];
    chain.push(first === undefined ? 1 : Number(first));
    type = first === undefined ? undefined : (fields as Record<string, string>)[first];
  }
  for (const field of chain.reverse()) body = Buffer.concat([tag(field, 2), varint(BigInt(body.length)), body]);
  return body;
}

const MUTATION_KINDS = ['valid', 'flip', 'truncate', 'random', 'huge-varint', 'field-0', 'wire-type', 'end-group', 'deep', 'schema-random'] as const;
type Mutation = (typeof MUTATION_KINDS)[number];
/** Valid requests weigh more: they reach the handlers' own checks and the storage behind them. */
const MUTATIONS: readonly Mutation[] = ['valid', 'valid', 'valid', ...MUTATION_KINDS];

function mutate(rng: Rng, valid: Buffer, typeName: string | undefined, mutation: Mutation): Buffer {
  switch (mutation) {
    case 'valid':
      return valid;
    case 'flip': {
      const out = Buffer.from(valid.length > 0 ? valid : rng.bytes(4));
      for (let i = 1 + rng.int(4); i > 0; i--) {
        const at = rng.int(out.length);
        out[at] = out.readUInt8(at) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'truncate':
      return valid.subarray(0, rng.int(valid.length + 1));
    case 'random':
      return rng.bytes(rng.int(300));
    case 'huge-varint': {
      const ten = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
      return rng.pick([
        Buffer.concat([valid, tag(1 + rng.int(10), 0), ten]),
        Buffer.concat([valid, tag(1 + rng.int(10), 0), Buffer.alloc(12, 0xff), Buffer.from([1])]),
        Buffer.concat([tag(1 + rng.int(10), 2), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), valid]),
        Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), valid]),
      ]);
    }
    case 'field-0':
      return rng.pick([
        Buffer.concat([valid, Buffer.from([0x02, 0x00])]),
        Buffer.concat([Buffer.from([0x00, 0x05]), valid]),
        Buffer.concat([valid, Buffer.from([0x05, 1, 2, 3, 4])]),
      ]);
    case 'wire-type': {
      if (valid.length === 0) return Buffer.from([0x0f]);
      const out = Buffer.from(valid);
      out[0] = (defined(out[0], 'out[0]') & ~7) | rng.pick([1, 2, 3, 4, 5, 6, 7]);
      return out;
    }
    case 'end-group':
      return rng.pick([
        Buffer.concat([valid, tag(1 + rng.int(10), 4)]),
        Buffer.concat([tag(1 + rng.int(10), 4), valid]),
        Buffer.concat([valid, tag(3, 3)]),
      ]);
    case 'deep':
      return rng.pick([
        deepNesting(typeName, 60 + rng.int(200)),
        Buffer.concat([Buffer.alloc(150, 0x0b), Buffer.alloc(150, 0x0c)]),
        Buffer.alloc(5000, 0x0b),
      ]);
    case 'schema-random':
      return randomWire(rng, typeName, 0);
  }
}

/** A valid request of each method (random contents); a sample the encoder refuses becomes schema-random bytes. */
function validRequest(rng: Rng, path: string, clusterId: bigint): Buffer {
  try {
    return sampleRequest(rng, path, clusterId);
  } catch {
    return randomWire(rng, METHOD_REQUESTS[path], 0);
  }
}

function sampleRequest(rng: Rng, path: string, clusterId: bigint): Buffer {
  const header = { clusterId: rng.float() < 0.7 ? clusterId : rng.u64() };
  const context =
    rng.float() < 0.5
      ? undefined
      : {
          regionId: rng.smallId(),
          regionEpoch: { confVer: rng.smallId(), version: rng.smallId() },
          peer: { id: rng.smallId(), storeId: rng.smallId() },
        };
  const cf = rng.pick(['', 'default', 'lock', 'write', 'bogus', 'x'.repeat(2000)]);
  const region = {
    id: rng.smallId(),
    startKey: rng.key(),
    endKey: rng.key(),
    regionEpoch: { confVer: rng.smallId(), version: rng.smallId() },
    peers: [{ id: rng.smallId(), storeId: rng.smallId() }],
  };
  const term = () => rng.pick([0, 1, 5, 6, 7, 100, 2 ** 31, 2 ** 53 - 1, rng.smallId()]);
  // Mostly forged from a real member (past the gate, into Raft); else any ids (the gate's drops).
  const raftMessage = () =>
    rng.victim !== undefined && rng.float() < 0.7
      ? forgedRaftMessage(rng, rng.victim, rng.pick(ALL_MESSAGE_TYPES))
      : RaftMessage.fromPartial({
          regionId: rng.smallId(),
          fromPeer: { id: rng.smallId(), storeId: rng.smallId() },
          toPeer: { id: rng.smallId(), storeId: rng.smallId() },
          regionEpoch: { confVer: rng.smallId(), version: rng.smallId() },
          isTombstone: rng.float() < 0.1,
          startKey: rng.key(),
          endKey: rng.key(),
          message: {
            msgType: rng.pick(Object.values(MessageType).filter((v): v is MessageType => typeof v === 'number')),
            to: rng.smallId(),
            from: rng.smallId(),
            term: term(),
            logTerm: term(),
            index: rng.smallId(),
            commit: rng.smallId(),
            entries: rng.float() < 0.5 ? [] : [{ term: rng.smallId(), index: rng.smallId(), data: rng.bytes(rng.int(64)) }],
            snapshot:
              rng.float() < 0.3
                ? {
                    data: rng.bytes(rng.int(64)),
                    metadata: { index: rng.pick([0, 5, 6, 100, 10_000, 2 ** 40]), term: term(), confState: { nodes: [rng.smallId()] } },
                  }
                : undefined,
          },
        });
  const ts = () => rng.u64();
  const enc = (bytes: Uint8Array) => Buffer.from(bytes);
  switch (path.split('/')[2]) {
    case 'RawGet':
      return enc(RawGetRequest.encode(RawGetRequest.fromPartial({ context, key: rng.key(), cf })).finish());
    case 'RawPut':
      return enc(RawPutRequest.encode(RawPutRequest.fromPartial({ context, key: rng.key(), value: rng.bytes(rng.int(100)), cf })).finish());
    case 'RawDelete':
      return enc(RawDeleteRequest.encode(RawDeleteRequest.fromPartial({ context, key: rng.key(), cf })).finish());
    case 'RawScan':
      return enc(
        RawScanRequest.encode(
          RawScanRequest.fromPartial({ context, startKey: rng.key(), limit: rng.pick([0, 1, 10, 100_000, 2 ** 32 - 1]), cf }),
        ).finish(),
      );
    case 'KvGet':
      return enc(GetRequest.encode(GetRequest.fromPartial({ context, key: rng.key(), version: ts() })).finish());
    case 'KvScan':
      return enc(
        ScanRequest.encode(ScanRequest.fromPartial({ context, startKey: rng.key(), limit: rng.pick([0, 1, 10, 100_000]), version: ts() })).finish(),
      );
    case 'KvPrewrite':
      return enc(
        PrewriteRequest.encode(
          PrewriteRequest.fromPartial({
            context,
            mutations: Array.from({ length: rng.int(4) }, () => ({
              op: rng.pick([Op.Put, Op.Del, Op.Rollback, Op.Lock, 17 as Op]),
              key: rng.key(),
              value: rng.bytes(rng.int(30)),
            })),
            primaryLock: rng.key(),
            startVersion: ts(),
            lockTtl: ts(),
          }),
        ).finish(),
      );
    case 'KvCommit':
      return enc(
        CommitRequest.encode(CommitRequest.fromPartial({ context, startVersion: ts(), keys: [rng.key(), rng.key()], commitVersion: ts() })).finish(),
      );
    case 'KvCheckTxnStatus':
      return enc(
        CheckTxnStatusRequest.encode(CheckTxnStatusRequest.fromPartial({ context, primaryKey: rng.key(), lockTs: ts(), currentTs: ts() })).finish(),
      );
    case 'KvBatchRollback':
      return enc(BatchRollbackRequest.encode(BatchRollbackRequest.fromPartial({ context, startVersion: ts(), keys: [rng.key()] })).finish());
    case 'KvResolveLock':
      return enc(ResolveLockRequest.encode(ResolveLockRequest.fromPartial({ context, startVersion: ts(), commitVersion: ts() })).finish());
    case 'Coprocessor':
      return enc(
        CoprocessorRequest.encode(
          CoprocessorRequest.fromPartial({
            context,
            tp: BigInt(rng.int(1000)),
            data: rng.bytes(20),
            startTs: ts(),
            ranges: [{ start: rng.key(), end: rng.key() }],
          }),
        ).finish(),
      );
    case 'Raft':
      return enc(RaftMessage.encode(raftMessage()).finish());
    case 'BatchRaft':
      return enc(BatchRaftMessage.encode(BatchRaftMessage.fromPartial({ msgs: Array.from({ length: 1 + rng.int(3) }, raftMessage) })).finish());
    case 'Snapshot':
      return enc(
        SnapshotChunk.encode(SnapshotChunk.fromPartial(rng.float() < 0.5 ? { message: raftMessage() } : { data: rng.bytes(rng.int(200)) })).finish(),
      );
    case 'Tso':
      return enc(TsoRequest.encode(TsoRequest.fromPartial({ header, count: rng.pick([0, 1, 10, 2 ** 31, 2 ** 32 - 1]) })).finish());
    case 'Bootstrap':
      return enc(
        BootstrapRequest.encode(BootstrapRequest.fromPartial({ header, store: { id: rng.smallId(), address: 'x'.repeat(rng.int(3000)) } })).finish(),
      );
    case 'PutStore':
      return enc(
        PutStoreRequest.encode(
          PutStoreRequest.fromPartial({ header, store: { id: rng.smallId(), address: rng.pick(['127.0.0.1:1', '', 'y'.repeat(5000)]) } }),
        ).finish(),
      );
    case 'RegionHeartbeat':
      return enc(
        RegionHeartbeatRequest.encode(
          RegionHeartbeatRequest.fromPartial({ header, region, leader: region.peers[0], approximateSize: rng.smallId() }),
        ).finish(),
      );
    case 'AskSplit':
      return enc(AskSplitRequest.encode(AskSplitRequest.fromPartial({ header, region })).finish());
    case 'StoreHeartbeat':
      return enc(
        StoreHeartbeatRequest.encode(
          StoreHeartbeatRequest.fromPartial({ header, stats: { storeId: rng.smallId(), regionCount: rng.int(1000) } }),
        ).finish(),
      );
    case 'GetRegion':
    case 'GetPrevRegion':
      return enc(GetRegionRequest.encode(GetRegionRequest.fromPartial({ header, regionKey: rng.key() })).finish());
    case 'ScanRegions':
      return enc(
        ScanRegionsRequest.encode(
          ScanRegionsRequest.fromPartial({ header, startKey: rng.key(), endKey: rng.key(), limit: rng.pick([0, 1, 2 ** 31 - 1]) }),
        ).finish(),
      );
    default:
      // Every other method: its header alone (field 1 holds the RequestHeader in schedulerpb).
      return Buffer.concat([tag(1, 2), varint(BigInt(varint(header.clusterId).length + 1)), tag(1, 0), varint(header.clusterId)]);
  }
}

interface Target {
  readonly service: ServiceDefinition;
  readonly addr: string;
}

const identity = (b: Buffer) => b;

/** Sends one request (or a few stream messages) and waits for the answer, whatever it is. */
function send(client: Client, path: string, streaming: { request: boolean; response: boolean }, messages: Buffer[]): Promise<GrpcStatus> {
  const deadline = new Date(Date.now() + 5_000);
  return new Promise((resolve) => {
    const done = (err: ServiceError | null) => resolve(err ? err.code : GrpcStatus.OK);
    if (!streaming.request && !streaming.response) {
      client.makeUnaryRequest(path, identity, identity, defined(messages[0], 'messages[0]'), new Metadata(), { deadline }, done);
      return;
    }
    if (streaming.request && !streaming.response) {
      const call = client.makeClientStreamRequest(path, identity, identity, new Metadata(), { deadline }, done);
      for (const message of messages) call.write(message);
      call.end();
      return;
    }
    const call = streaming.request
      ? client.makeBidiStreamRequest(path, identity, identity, new Metadata(), { deadline })
      : client.makeServerStreamRequest(path, identity, identity, defined(messages[0], 'messages[0]'), new Metadata(), { deadline });
    call.on('data', () => {});
    call.on('error', (err: ServiceError) => resolve(err.code));
    call.on('status', (s: { code: GrpcStatus }) => resolve(s.code));
    if (streaming.request) {
      const writable = call as unknown as { write(b: Buffer): void; end(): void };
      for (const message of messages) writable.write(message);
      // A bidi stream answers each message and stays open; end it after a moment.
      setTimeout(() => writable.end(), 200);
      setTimeout(() => call.cancel(), 1_000);
    }
  });
}

/** Drives every method of the targets `iterations` times in all, a few calls at a time. */
async function barrage(rng: Rng, targets: Target[], clusterId: bigint, isAlive: () => boolean): Promise<Map<string, number>> {
  const methods = targets.flatMap((target) =>
    Object.values(target.service).map((definition) => ({
      target,
      path: definition.path,
      streaming: { request: definition.requestStream, response: definition.responseStream },
    })),
  );
  const clients = new Map(
    targets.map((t) => [t.addr, new Client(t.addr, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 })]),
  );
  const statuses = new Map<string, number>();
  try {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < iterations && isAlive(); i++) {
      // Round-robin first so every method is covered even in a short run; random after that.
      const method = i < methods.length ? defined(methods[i], 'methods[i]') : rng.pick(methods);
      const typeName = METHOD_REQUESTS[method.path];
      const count = method.streaming.request ? 1 + rng.int(4) : 1;
      const messages = Array.from({ length: count }, () => mutate(rng, validRequest(rng, method.path, clusterId), typeName, rng.pick(MUTATIONS)));
      const sent = send(clients.get(method.target.addr)!, method.path, method.streaming, messages).then((code) => {
        const name = `${method.path} ${GrpcStatus[code]}`;
        statuses.set(name, (statuses.get(name) ?? 0) + 1);
      });
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= 8) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    for (const client of clients.values()) client.close();
  }
  return statuses;
}

interface ServerProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** Starts `tinykv server` and waits until it prints its address (and the embedded scheduler's). */
function startServer(args: string[]): Promise<ServerProcess & { addr: string; schedulerAddr?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`server did not start; stderr: ${stderr}`)), 30_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({
          child,
          addr: defined(match[1], 'match[1]'),
          schedulerAddr: /embedded scheduler at (\S+)/.exec(stdout)?.[1],
          stdout: () => stdout,
          stderr: () => stderr,
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
}

/** RawPut then RawGet of a fresh key on the store, retrying while a (re-)election settles. */
async function rawRoundTrip(addr: string, key: string, value: string, deadlineMs = 20_000): Promise<{ before?: string; after?: string }> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = await connect({ node: addr, requestTimeoutMs: 3_000, maxRetries: 0 });
    try {
      await client.put(key, value);
      return { after: (await client.get(key))?.toString() };
    } catch (err) {
      lastError = err;
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`RawPut/RawGet on ${addr} did not answer: ${String(lastError)}`);
}

/** The cluster id a scheduler (or a standalone node) reports, so fuzzed headers usually pass its check. */
async function clusterIdOf(addr: string): Promise<bigint> {
  const client = new SchedulerClient(addr, credentials.createInsecure());
  try {
    const members = await new Promise<GetMembersResponse>((resolve, reject) =>
      client.getMembers({ header: undefined }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    return members.header?.clusterId ?? 0n;
  } finally {
    client.close();
  }
}

async function rawGet(addr: string, key: string): Promise<string | undefined> {
  const client = await connect({ node: addr, requestTimeoutMs: 3_000, maxRetries: 0 });
  try {
    return (await client.get(key))?.toString();
  } finally {
    await client.close();
  }
}

const dir = tempDir('tinykv-fuzz-');
const processes: ChildProcess[] = [];
afterAll(() => {
  for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL');
  dir.cleanup();
});

/** Prints what the barrage got back; returns the answers that were not a clear error (INTERNAL, UNKNOWN). */
function report(name: string, statuses: Map<string, number>): Record<string, number> {
  const internal = [...statuses].filter(([key]) => / (INTERNAL|UNKNOWN)$/.test(key));
  console.log(
    `[fuzz ${name}] seed=${seed}: ${[...statuses.values()].reduce((a, b) => a + b, 0)} calls; INTERNAL/UNKNOWN answers: ${JSON.stringify(Object.fromEntries(internal))}`,
  );
  if (process.env['TINYKV_FUZZ_VERBOSE']) console.log(JSON.stringify(Object.fromEntries([...statuses].sort()), null, 1));
  return Object.fromEntries(internal);
}

describe(`fuzzing every TinyKv and Scheduler method (seed ${seed})`, () => {
  it('(a) a standalone node survives and still answers RawPut/RawGet', async () => {
    const server = await startServer(['--addr', '127.0.0.1:0', '--data-dir', `${dir.path}/standalone`, '--log-level', 'fatal']);
    processes.push(server.child);
    await rawRoundTrip(server.addr, 'fuzz-before', 'kept');
    const clusterId = await clusterIdOf(server.addr);
    const rng = new Rng(seed);
    const statuses = await barrage(
      rng,
      [
        { service: TinyKvService, addr: server.addr },
        { service: SchedulerService, addr: server.addr },
      ],
      clusterId,
      () => server.child.exitCode === null,
    );
    // A bad request gets a clear error (INVALID_ARGUMENT...), never INTERNAL/UNKNOWN.
    expect(report('standalone', statuses), `seed ${seed}`).toEqual({});
    expect(server.child.exitCode, `the node exited; stderr:\n${server.stderr().slice(-4000)}`).toBeNull();
    expect((await rawRoundTrip(server.addr, `fuzz-after-${seed}`, 'fresh')).after).toBe('fresh');
    expect(await rawGet(server.addr, 'fuzz-before')).toBe('kept');
  }, 120_000);

  it('(b) a three-store cluster survives Raft messages forged from real members, and the barrage; all stores run and RawPut/RawGet work', async () => {
    const scheduler = await startSchedulerProcess(`${dir.path}/scheduler`, 3, (child) => processes.push(child));
    const stores = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const store = await startServerProcess([
          '--scheduler',
          scheduler.addr,
          '--addr',
          '127.0.0.1:0',
          '--data-dir',
          `${dir.path}/store-${n}`,
          '--raft-base-tick-ms',
          '20',
          '--log-level',
          process.env['TINYKV_FUZZ_LOG_LEVEL'] ?? 'error',
        ]);
        processes.push(store.child);
        return store;
      }),
    );
    const allRunning = () => scheduler.child.exitCode === null && stores.every((store) => store.child.exitCode === null);
    const health = () =>
      [
        ...stores.map((store, i) => unhealthyReason(`store ${i + 1} (${store.addr})`, store.child, store.stderr())),
        scheduler.child.exitCode === null ? undefined : `the scheduler exited with ${scheduler.child.exitCode}`,
      ].filter((reason): reason is string => reason !== undefined);
    await clusterRoundTrip(stores, 'fuzz-before', 'kept', 30_000);

    const rng = new Rng(seed ^ 0x5bd1e995);
    const clusterId = await clusterIdOf(scheduler.addr);
    const { victim, target, role } = await chooseVictim(rng, scheduler.addr, stores);
    rng.victim = victim;
    rng.realIds = [victim.region.id, ...victim.region.peers.flatMap((p) => [p.id, p.storeId])];
    console.log(
      `[fuzz cluster] seed=${seed}: forging Raft messages to the ${role} ${JSON.stringify(victim.peer)} at ${target.addr} of region ${victim.region.id}, as from ${JSON.stringify(victim.others)}`,
    );

    // 1. Raft messages forged from the real members, every type and shape first, in small batches
    //    over the Raft, BatchRaft and Snapshot streams; stop at the first store that dies.
    const sent = await forgeBarrage(rng, victim, target.addr, Math.max(50, Math.floor(iterations / 2)), allRunning);
    await new Promise((r) => setTimeout(r, 300));
    // The reasons go in the message: an array in the diff is cut short.
    const reasons = health();
    expect(reasons, `seed ${seed}: a forged Raft message stopped a process:\n${reasons.join('\n')}\nthe last ones sent:\n${sent.join('\n')}`).toEqual(
      [],
    );
    // The forged messages may move the leader, never take the cluster's service away for good.
    const logs = () => stores.map((store, i) => `store ${i + 1} (${store.addr}) log tail:\n${store.stderr().slice(-3000)}`).join('\n');
    try {
      expect(await clusterRoundTrip(stores, `fuzz-forged-${seed}`, 'served', 30_000)).toBe('served');
    } catch (err) {
      throw new Error(`seed ${seed}: after the forged Raft messages: ${err instanceof Error ? err.message : String(err)}\n${logs()}`, { cause: err });
    }

    // 2. Every method of the store's TinyKv and of the scheduler, mutated (Raft, BatchRaft and
    //    Snapshot again carry messages forged from real members most of the time).
    const statuses = await barrage(
      rng,
      [
        { service: TinyKvService, addr: target.addr },
        { service: SchedulerService, addr: scheduler.addr },
      ],
      clusterId,
      allRunning,
    );
    expect(report('cluster', statuses), `seed ${seed}`).toEqual({});
    await new Promise((r) => setTimeout(r, 300));
    expect(health(), `seed ${seed}`).toEqual([]);

    // 3. The cluster still serves (the leader may have moved: any store may answer).
    try {
      expect(await clusterRoundTrip(stores, `fuzz-after-${seed}`, 'fresh', 30_000)).toBe('fresh');
      expect(await clusterGet(stores, 'fuzz-before', 20_000)).toBe('kept');
    } catch (err) {
      throw new Error(`seed ${seed}: ${err instanceof Error ? err.message : String(err)}\n${logs()}`, { cause: err });
    }
    expect(health(), `seed ${seed}`).toEqual([]);
  }, 150_000);
});

/** RawPut then RawGet of a key through whichever store leads, retrying across stores until the deadline. */
async function clusterRoundTrip(stores: CliServerProcess[], key: string, value: string, deadlineMs: number): Promise<string | undefined> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    for (const store of stores) {
      if (store.child.exitCode !== null) continue;
      const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
      try {
        await client.put(key, value);
        return (await client.get(key))?.toString();
      } catch (err) {
        lastError = err;
      } finally {
        await client.close();
      }
    }
    if (Date.now() > deadline) throw new Error(`RawPut/RawGet of ${key} found no store that answers: ${String(lastError)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function clusterGet(stores: CliServerProcess[], key: string, deadlineMs: number): Promise<string | undefined> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    for (const store of stores) {
      if (store.child.exitCode !== null) continue;
      const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
      try {
        return (await client.get(key))?.toString();
      } catch (err) {
        lastError = err;
      } finally {
        await client.close();
      }
    }
    if (Date.now() > deadline) throw new Error(`RawGet of ${key} found no store that answers: ${String(lastError)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The region of the empty key as the scheduler knows it once it has a leader, and the store to
 * fuzz: the leader or a follower, chosen by the seed (so runs cover both roles and a replay
 * picks the same role). Its peer is the victim; the region's other members are the forged senders.
 */
async function chooseVictim(
  rng: Rng,
  schedulerAddr: string,
  stores: CliServerProcess[],
): Promise<{ victim: RaftVictim; target: CliServerProcess; role: 'leader' | 'follower' }> {
  const scheduler = await SchedulerApi.connect(schedulerAddr);
  try {
    let info = await scheduler.getRegion(Buffer.alloc(0));
    for (const deadline = Date.now() + 20_000; (!info?.leader || info.region.peers.length < 3) && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 200));
      info = await scheduler.getRegion(Buffer.alloc(0));
    }
    if (!info?.leader || info.region.peers.length < 3) throw new Error(`the scheduler knows no 3-peer region with a leader: ${JSON.stringify(info)}`);
    const region = info.region;
    const leader = info.leader;
    const role = rng.int(2) === 0 ? 'leader' : 'follower';
    const peer: Peer = role === 'leader' ? leader : region.peers.find((p) => p.id !== leader.id)!;
    const address = new Map((await scheduler.getAllStores()).map((store) => [store.id, store.address]));
    const target = stores.find((store) => store.addr === address.get(peer.storeId));
    if (!target) throw new Error(`store ${peer.storeId} at ${address.get(peer.storeId)} is none of ${stores.map((s) => s.addr).join(', ')}`);
    return { victim: { region, peer, others: region.peers.filter((p) => p.id !== peer.id) }, target, role };
  } finally {
    scheduler.close();
  }
}

/** One line per forged message, for the failure report. */
function describeMessage(message: RaftMessage): string {
  const m = message.message!;
  const entries = m.entries.map((e) => `${e.index}/${e.term}${e.entryType ? 'c' : ''}`).join(',');
  return (
    `${MessageType[m.msgType]} from=${m.from} to=${m.to} term=${m.term} logTerm=${m.logTerm} index=${m.index} commit=${m.commit}` +
    ` entries=[${entries.length > 80 ? `${m.entries.length} entries from ${defined(m.entries[0], 'm.entries[0]').index}` : entries}]${m.snapshot ? ` snapshot@${m.snapshot.metadata?.index}/${m.snapshot.metadata?.term}` : ''}` +
    `${message.isTombstone ? ' tombstone' : ''}`
  );
}

/**
 * Sends `count` forged messages in batches of up to 8 (a Raft stream, sometimes a BatchRaft
 * stream; a MsgSnapshot also alone on a Snapshot stream with garbage chunks) until a process
 * stops. Returns the descriptions of the last batches sent.
 */
async function forgeBarrage(rng: Rng, victim: RaftVictim, addr: string, count: number, alive: () => boolean): Promise<string[]> {
  const client = new TinyKvClient(addr, credentials.createInsecure());
  const recent: string[] = [];
  try {
    const messages = [...forgedRaftMessages(rng, victim, count)];
    for (let i = 0; i < messages.length && alive();) {
      const batch = messages.slice(i, i + 1 + rng.int(8));
      i += batch.length;
      for (const message of batch) recent.push(describeMessage(message));
      recent.splice(0, Math.max(0, recent.length - 24));
      const snapshot = batch.find((m) => m.message?.msgType === MessageType.MsgSnapshot);
      if (snapshot && rng.float() < 0.5) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          const call = client.snapshot(() => {
            clearTimeout(timer);
            resolve();
          });
          call.on('error', () => {});
          call.write(SnapshotChunk.fromPartial({ message: snapshot }));
          for (let c = rng.int(3); c >= 0; c--) call.write(SnapshotChunk.fromPartial({ data: rng.bytes(rng.int(4096)) }));
          call.end();
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        if (rng.float() < 0.25) {
          const call = client.batchRaft(done);
          call.on('error', () => {});
          call.write(BatchRaftMessage.fromPartial({ msgs: batch }));
          call.end();
        } else {
          const call = client.raft(done);
          call.on('error', () => {});
          for (const message of batch) call.write(message);
          call.end();
        }
      });
    }
  } finally {
    client.close();
  }
  return recent;
}
