// Transactions and timestamps over real gRPC on a standalone node: the wiring, end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { TinyKvClient } from '../../src/proto/tinykvpb.js';
import { SchedulerClient, TsoRequest, type GetMembersResponse, type TsoResponse } from '../../src/proto/schedulerpb.js';
import { Op, type CommitResponse, type GetResponse, type PrewriteResponse } from '../../src/proto/kvrpcpb.js';
import { tempDir } from '../helpers/tmp.js';

let node: TinyKvNode;
let kv: TinyKvClient;
let pd: SchedulerClient;
let dir: ReturnType<typeof tempDir>;

function call<Res>(invoke: (cb: (err: Error | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

beforeAll(async () => {
  dir = tempDir();
  node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger() });
  kv = new TinyKvClient(node.addr, credentials.createInsecure());
  pd = new SchedulerClient(node.addr, credentials.createInsecure());
});

afterAll(async () => {
  kv.close();
  pd.close();
  await node.close();
  dir.cleanup();
});

async function tso(count: number): Promise<TsoResponse> {
  const stream = pd.tso();
  const response = new Promise<TsoResponse>((resolve, reject) => {
    stream.once('data', resolve);
    stream.once('error', reject);
  });
  stream.write(TsoRequest.fromPartial({ count }));
  const result = await response;
  stream.end();
  return result;
}

const ts = (r: TsoResponse) => (r.timestamp!.physical << 18n) | r.timestamp!.logical;

describe('standalone node: scheduler subset', () => {
  it('GetMembers names this node with a stable cluster id', async () => {
    const members = await call<GetMembersResponse>((cb) => pd.getMembers({ header: undefined }, cb));
    expect(members.header!.clusterId).toBeGreaterThan(0n);
    expect(members.leader!.clientUrls).toEqual([`http://${node.addr}`]);
  });

  it('Tso returns increasing timestamps near the wall clock', async () => {
    const a = await tso(1);
    const b = await tso(5);
    expect(a.count).toBe(1);
    expect(ts(b) - ts(a)).toBeGreaterThanOrEqual(5n);
    expect(Math.abs(Number(a.timestamp!.physical) - Date.now())).toBeLessThan(10_000);
  });

  it('Tso with count 0 is an error status', async () => {
    await expect(tso(0)).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
  });

  it('other scheduler RPCs answer UNIMPLEMENTED', async () => {
    await expect(call((cb) => pd.allocId({ header: undefined }, cb))).rejects.toMatchObject({ code: GrpcStatus.UNIMPLEMENTED });
  });
});

describe('standalone node: Percolator over gRPC', () => {
  it('prewrites, commits and reads at a later version', async () => {
    const start = ts(await tso(1));
    const key = Buffer.from('txn-key');
    const pre = await call<PrewriteResponse>((cb) =>
      kv.kvPrewrite(
        {
          context: undefined,
          mutations: [{ op: Op.Put, key, value: Buffer.from('v1') }],
          primaryLock: key,
          startVersion: start,
          lockTtl: 3000n,
        },
        cb,
      ),
    );
    expect(pre.errors).toEqual([]);
    const lockedAt = ts(await tso(1));
    const locked = await call<GetResponse>((cb) => kv.kvGet({ context: undefined, key, version: lockedAt }, cb));
    expect(locked.error?.locked?.lockVersion).toBe(start);
    const commitTs = ts(await tso(1));
    const commit = await call<CommitResponse>((cb) =>
      kv.kvCommit({ context: undefined, startVersion: start, keys: [key], commitVersion: commitTs }, cb),
    );
    expect(commit.error).toBeUndefined();
    const readAt = ts(await tso(1));
    const read = await call<GetResponse>((cb) => kv.kvGet({ context: undefined, key, version: readAt }, cb));
    expect(read.value.toString()).toBe('v1');
    const before = await call<GetResponse>((cb) => kv.kvGet({ context: undefined, key, version: start - 1n }, cb));
    expect(before.notFound).toBe(true);
  });

  it('answers a malformed transactional request with INVALID_ARGUMENT', async () => {
    await expect(
      call<CommitResponse>((cb) => kv.kvCommit({ context: undefined, startVersion: 0n, keys: [Buffer.from('k')], commitVersion: 0n }, cb)),
    ).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
  });
});
