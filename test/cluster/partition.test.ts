// TinyKV 2B-style faults on the real, threaded store: stores with raft poller threads, LMDB and gRPC,
// with an outgoing-message filter standing in for the network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError } from '../../src/client/index.js';
import type { RaftMessage } from '../../src/proto/raft_serverpb.js';
import { firstAnswer, InProcessCluster, waitUntil, withClient } from './harness.js';

let cluster: InProcessCluster;
/** Stores cut off from everyone: messages from or to them are dropped. */
const isolated = new Set<number>();
const dropMessage = (m: RaftMessage) => isolated.has(m.fromPeer?.storeId ?? 0) || isolated.has(m.toPeer?.storeId ?? 0);

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftPollers: 1 }, { dropMessage });
});

afterAll(async () => {
  await cluster.close();
});

describe('an isolated leader on the threaded store', () => {
  it('cannot serve reads or writes; the majority elects a new leader; the old one catches up when healed', async () => {
    const all = () => cluster.all();
    const { node: leader } = await firstAnswer((addr) => withClient(addr, (c) => c.put('k', 'v1')), all);
    isolated.add(leader.storeId);

    // Writes through the rest go to a new leader.
    const others = () => all().filter((n) => n !== leader);
    await firstAnswer((addr) => withClient(addr, (c) => c.put('k', 'v2')), others);

    // The old leader, cut off, never answers with the old value.
    const stale = await withClient(leader.addr, (c) => c.get('k'), 2_000).then(
      (value) => value?.toString(),
      (err: unknown) => (err instanceof ClientError ? 'refused' : 'failed'),
    );
    expect(stale).toBe('refused');
    await expect(withClient(leader.addr, (c) => c.put('k', 'v3'), 2_000)).rejects.toBeInstanceOf(ClientError);

    isolated.clear();
    const { value } = await firstAnswer((addr) => withClient(addr, (c) => c.get('k')), all);
    expect(value?.toString()).toBe('v2');
    // The healed store converges on the majority's value.
    const local = () => leader.engines.kv.get('default', Buffer.from('k'))?.toString();
    await waitUntil(() => local() === 'v2', 10_000, 50);
    expect(local()).toBe('v2');
  });
});
