// TinyKV 2B-style faults on the real, threaded store: stores with raft poller threads, LMDB and gRPC,
// with an outgoing-message filter standing in for the network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRawClient, TinyKvClientError } from '../../src/client/raw-client.js';
import type { RaftMessage } from '../../src/proto/raft_serverpb.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { tempDir } from '../helpers/tmp.js';

let scheduler: SchedulerHandle;
const nodes = new Map<number, ClusterNode>();
const dirs: Array<ReturnType<typeof tempDir>> = [];
/** Stores cut off from everyone: messages from or to them are dropped. */
const isolated = new Set<number>();
const dropMessage = (m: RaftMessage) => isolated.has(m.fromPeer?.storeId ?? 0) || isolated.has(m.toPeer?.storeId ?? 0);

async function tryEach<T>(op: (addr: string) => Promise<T>, among: () => ClusterNode[], deadlineMs = 20_000): Promise<{ node: ClusterNode; value: T }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    for (const node of among()) {
      try {
        return { node, value: await op(node.addr) };
      } catch (err) {
        if (!(err instanceof TinyKvClientError)) throw err;
      }
    }
    if (Date.now() > deadline) throw new Error('no store answered');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withClient<T>(addr: string, run: (c: ReturnType<typeof createRawClient>) => Promise<T>, timeoutMs = 3_000): Promise<T> {
  const client = createRawClient(addr, { timeoutMs });
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 3, logger: silentLogger() });
  for (let i = 0; i < 3; i++) dirs.push(tempDir());
  await Promise.all(
    dirs.map(async (d) => {
      const config = loadConfig({
        overrides: { standalone: false, scheduler: scheduler.addr, addr: '127.0.0.1:0', dataDir: d.path, raftBaseTickMs: 20, raftPollers: 1, logLevel: 'silent' },
      });
      const node = await ClusterNode.start(config, silentLogger(), { dropMessage });
      nodes.set(node.storeId, node);
    }),
  );
});

afterAll(async () => {
  for (const node of nodes.values()) await node.close();
  await scheduler.close();
  for (const d of dirs) d.cleanup();
});

describe('an isolated leader on the threaded store', () => {
  it('cannot serve reads or writes; the majority elects a new leader; the old one catches up when healed', async () => {
    const all = () => [...nodes.values()];
    const { node: leader } = await tryEach((addr) => withClient(addr, (c) => c.put('k', 'v1')), all);
    isolated.add(leader.storeId);

    // Writes through the rest go to a new leader.
    const others = () => all().filter((n) => n !== leader);
    await tryEach((addr) => withClient(addr, (c) => c.put('k', 'v2')), others);

    // The old leader, cut off, never answers with the old value.
    const stale = await withClient(leader.addr, (c) => c.get('k'), 2_000).then(
      (value) => value?.toString(),
      (err: unknown) => (err instanceof TinyKvClientError ? 'refused' : 'failed'),
    );
    expect(stale).toBe('refused');
    await expect(withClient(leader.addr, (c) => c.put('k', 'v3'), 2_000)).rejects.toBeInstanceOf(TinyKvClientError);

    isolated.clear();
    const { value } = await tryEach((addr) => withClient(addr, (c) => c.get('k')), all);
    expect(value?.toString()).toBe('v2');
    // The healed store converges on the majority's value.
    const kv = (leader as unknown as { engines: { kv: { get: (cf: string, k: Buffer) => Buffer | undefined } } }).engines.kv;
    const deadline = Date.now() + 10_000;
    while (kv.get('default', Buffer.from('k'))?.toString() !== 'v2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(kv.get('default', Buffer.from('k'))?.toString()).toBe('v2');
  });
});
