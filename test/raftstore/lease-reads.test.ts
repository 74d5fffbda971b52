// Leader leases in the single-thread simulation, fault by fault: a stalled leader's main thread
// serves reads only while no other store can lead; a leader transfer ends the lease at once; a
// clock that jumps (every thread paused) sends reads back to ReadIndex. The chaos simulation
// (sim.test.ts) runs the same faults at random under the linearizability checker.
import { describe, expect, it } from 'vitest';
import { CmdType, RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { SimCluster, seedFromEnv } from './cluster.js';
import { defined } from '../../src/util/assert.js';

const getA = RaftCmdRequest.fromPartial({
  header: { regionId: 1 },
  requests: [{ cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from('a') } }],
});

/** Sends a Get for `a` to store `id`; says whether its main thread answered it from the lease, and with what. */
function localRead(cluster: SimCluster, id: number): { served: boolean; value?: string } {
  const store = defined(cluster.stores.get(id), 'store');
  const reader = defined(store.localReader, 'local reader');
  const before = reader.counts.served;
  let value: string | undefined;
  store.propose(getA, (result) => (value = result.response.responses[0]?.get?.value.toString()));
  return reader.counts.served > before ? { served: true, value } : { served: false };
}

async function startCluster(name: string, fallback: number): Promise<{ cluster: SimCluster; leader: number }> {
  const seed = seedFromEnv(fallback);
  console.log(`[raftstore] lease-reads ${name}: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  const cluster = new SimCluster({ stores: 3, seed });
  await cluster.start();
  const leader = await cluster.waitLeader();
  await cluster.put('a', '1');
  // A few ticks: the lease is renewed and the leader's region report reaches its main thread.
  await cluster.run(5);
  return { cluster, leader };
}

describe('leader leases (simulation)', () => {
  it('a leader whose poller stalls serves reads from its lease only until another store could lead', async () => {
    const { cluster, leader } = await startCluster('stalled leader', 501);
    expect(localRead(cluster, leader)).toEqual({ served: true, value: '1' });
    cluster.pause(leader);
    const pausedAtMs = cluster.clock.nowMs();
    let lastServedMs = -1;
    let otherLeaderAtMs: number | undefined;
    for (let step = 0; step < 100 && otherLeaderAtMs === undefined; step++) {
      await cluster.step();
      const read = localRead(cluster, leader);
      if (read.served) {
        expect(read.value).toBe('1');
        lastServedMs = cluster.clock.nowMs();
      }
      const others = [1, 2, 3].filter((id) => id !== leader && cluster.stores.get(id)?.peer(1)?.isLeader());
      if (others.length > 0) otherLeaderAtMs = cluster.clock.nowMs();
    }
    expect(otherLeaderAtMs, 'another store leads').toBeDefined();
    // It did serve during the stall (the lease was in use), and stopped before anyone else could lead.
    expect(lastServedMs).toBeGreaterThan(pausedAtMs);
    expect(lastServedMs).toBeLessThan(defined(otherLeaderAtMs, 'election time'));
    expect(localRead(cluster, leader).served).toBe(false);
    cluster.resume(leader);
    await cluster.put('a', '2');
    await cluster.run(30);
    expect(await cluster.get('a')).toBe('2');
    expect(cluster.localValue(leader, 'a')).toBe('2');
  });

  it('a leader transfer ends the lease before the transferee can campaign', async () => {
    const { cluster, leader } = await startCluster('transfer', 502);
    expect(localRead(cluster, leader).served).toBe(true);
    const target = leader === 1 ? 2 : 1;
    expect(cluster.proposeTransferLeader(1, target)).toBe(true);
    // The transfer was taken in the poller's round: no time has passed, and the lease is gone.
    await cluster.settle();
    expect(localRead(cluster, leader).served).toBe(false);
    await cluster.transferLeader(1, target);
    await cluster.run(5);
    expect(localRead(cluster, target)).toEqual({ served: true, value: '1' });
    expect(localRead(cluster, leader).served).toBe(false);
  });

  it('after a clock jump past the lease, reads take a ReadIndex round, and lease reads resume once renewed', async () => {
    const { cluster, leader } = await startCluster('clock jump', 503);
    const reader = defined(cluster.stores.get(leader)?.localReader, 'local reader');
    expect(localRead(cluster, leader).served).toBe(true);
    cluster.advanceClock(5_000);
    const expiredBefore = reader.counts.expired;
    expect(await cluster.get('a')).toBe('1');
    expect(reader.counts.expired).toBeGreaterThan(expiredBefore);
    await cluster.run(3);
    expect(localRead(cluster, leader)).toEqual({ served: true, value: '1' });
  });

  it('a restarted leader serves no lease read before it is confirmed again', async () => {
    const { cluster, leader } = await startCluster('restart', 504);
    await cluster.crash(leader);
    await cluster.restart(leader);
    expect(localRead(cluster, leader).served).toBe(false);
    await cluster.put('a', '3');
    const now = await cluster.waitLeader();
    await cluster.run(5);
    expect(localRead(cluster, now)).toEqual({ served: true, value: '3' });
  });

  it('with lease reads off, every read goes to the poller and none is served on the main thread', async () => {
    const seed = seedFromEnv(505);
    const cluster = new SimCluster({ stores: 3, seed, config: { maxLeaderLeaseMs: 0 } });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await cluster.put('a', '1');
    await cluster.run(5);
    expect(localRead(cluster, leader).served).toBe(false);
    expect(await cluster.get('a')).toBe('1');
  });
});
