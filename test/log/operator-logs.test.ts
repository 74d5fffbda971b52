// The lines an operator works from, read off a running in-process cluster: three stores over gRPC
// on LMDB with their peers on the main thread (raft-pollers 0), so every line goes through the
// logger the test hands them. Leader elections, a split (a small region-max-size and writes) and a
// conf change (a follower removed) must each show up at info with their fields.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/logger.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { silentLogger } from '../../src/log/logger.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';

type Line = Record<string, unknown> & { msg: string; level: number };

const lines: Line[] = [];
const rawLines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const raw of chunk
      .toString()
      .split('\n')
      .filter((l) => l.length > 0)) {
      rawLines.push(raw);
      lines.push(JSON.parse(raw) as Line);
    }
    done();
  },
});

let scheduler: SchedulerHandle;
let client: TinyKvClient;
const nodes: ClusterNode[] = [];
const dirs: Array<ReturnType<typeof tempDir>> = [];

async function waitFor<T>(what: string, find: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lineWith = (msg: string, where: (line: Line) => boolean = () => true) => lines.find((l) => l.msg === msg && where(l));

beforeAll(async () => {
  scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 3, autoSchedule: false, logger: silentLogger() });
  for (let i = 0; i < 3; i++) dirs.push(tempDir());
  for (const dir of dirs) {
    const config = loadConfig({
      overrides: {
        standalone: false,
        scheduler: scheduler.addr,
        addr: '127.0.0.1:0',
        dataDir: dir.path,
        raftBaseTickMs: 20,
        raftPollers: 0,
        regionMaxSizeBytes: 64 * 1024,
        regionSplitSizeBytes: 32 * 1024,
        splitRegionCheckTickIntervalMs: 100,
        regionHeartbeatIntervalMs: 200,
        logLevel: 'info',
      },
    });
    const logger = createLogger('info', 'tinykv', { component: 'store', destination: sink });
    nodes.push(await ClusterNode.start(config, logger));
  }
  client = await connect({ scheduler: scheduler.addr, requestTimeoutMs: 5_000 });
});

afterAll(async () => {
  await client?.close();
  for (const node of nodes) await node.close();
  await scheduler?.close();
  for (const dir of dirs) dir.cleanup();
});

describe('operator logs', () => {
  it('logs a leader elected with its region and term, from the store that leads', async () => {
    const led = await waitFor('a leader', () => {
      for (const node of nodes) for (const { region } of node.store.leaderRegions()) return { node, regionId: region.id };
      return undefined;
    });
    const line = await waitFor('leader elected line', () => lineWith('leader elected', (l) => l.regionId === led.regionId));
    expect(line).toMatchObject({ level: 30, component: 'store', storeId: led.node.storeId });
    expect(line.term).toBeGreaterThanOrEqual(1);
    expect(typeof line.peerId).toBe('number');
  });

  it('logs a split applied with both regions and the split key', async () => {
    const value = Buffer.alloc(512, 'v');
    for (let i = 0; i < 400 && !lineWith('split applied'); i++) await client.put(`key-${String(i).padStart(5, '0')}`, value);
    const line = await waitFor('split applied line', () => lineWith('split applied'));
    const left = line.left as { id: number; startKey: string; endKey: string };
    const right = line.right as { id: number; startKey: string; endKey: string };
    expect(line).toMatchObject({ level: 30, component: 'store', regionId: left.id });
    expect(typeof line.splitKey).toBe('string');
    expect(left.endKey).toBe(line.splitKey);
    expect(right.startKey).toBe(line.splitKey);
    expect(right.id).not.toBe(left.id);
    // Every store applies it: three lines for the same split.
    await waitFor('the split on every store', () => {
      const stores = new Set(lines.filter((l) => l.msg === 'split applied' && l.splitKey === line.splitKey).map((l) => l.storeId));
      return stores.size === 3 ? stores : undefined;
    });
  });

  it('logs a conf change applied with the change, the peer and the members after it', async () => {
    const { node, region, leader } = await waitFor('a region with a leader', () => {
      for (const n of nodes) for (const led of n.store.leaderRegions()) return { node: n, ...led };
      return undefined;
    });
    const removed = defined(
      region.peers.find((p) => p.id !== leader.id),
      'a follower',
    );
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: region.id, peer: leader, regionEpoch: region.regionEpoch },
      adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType: ConfChangeType.RemoveNode, peer: removed } },
    });
    const response = await new Promise<RaftCmdResponse>((resolve) => node.store.propose(request, (result) => resolve(result.response)));
    expect(response.header?.error).toBeUndefined();
    const line = await waitFor('conf change applied line', () =>
      lineWith('conf change applied', (l) => l.regionId === region.id && l.storeId === node.storeId),
    );
    expect(line).toMatchObject({ level: 30, component: 'store', changeType: 'RemoveNode', peer: { id: removed.id, storeId: removed.storeId } });
    expect(line.peers).toEqual(region.peers.filter((p) => p.id !== removed.id).map((p) => p.id));
  });

  it('logs a snapshot sent, received and applied (region, size, time) when a new peer catches up', async () => {
    const { node, region, leader } = await waitFor('a region with a leader and two peers', () => {
      for (const n of nodes) for (const led of n.store.leaderRegions()) if (led.region.peers.length === 2) return { node: n, ...led };
      return undefined;
    });
    const target = defined(
      nodes.find((n) => !region.peers.some((p) => p.storeId === n.storeId)),
      'a store without a peer of the region',
    );
    const added = { id: 90_001, storeId: target.storeId };
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: region.id, peer: leader, regionEpoch: region.regionEpoch },
      adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType: ConfChangeType.AddNode, peer: added } },
    });
    const response = await new Promise<RaftCmdResponse>((resolve) => node.store.propose(request, (result) => resolve(result.response)));
    expect(response.header?.error).toBeUndefined();
    const ofRegion = (msg: string, storeId: number) => () => lineWith(msg, (l) => l.regionId === region.id && l.storeId === storeId);
    const sent = await waitFor('snapshot sent line', ofRegion('snapshot sent', node.storeId));
    const received = await waitFor('snapshot received line', ofRegion('snapshot received', target.storeId));
    const applied = await waitFor('snapshot applied line', ofRegion('snapshot applied', target.storeId));
    expect(sent).toMatchObject({ level: 30, component: 'store', toStore: target.storeId });
    expect(received).toMatchObject({ level: 30, component: 'store', fromStore: node.storeId, sizeBytes: sent.sizeBytes });
    expect(applied).toMatchObject({ level: 30, component: 'store', index: received.index, sizeBytes: sent.sizeBytes });
    for (const line of [sent, received, applied]) expect(typeof line.durationMs).toBe('number');
  });

  it('names the component once per line', () => {
    expect(rawLines.length).toBeGreaterThan(0);
    for (const raw of rawLines) expect(raw.match(/"component":/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });
});
