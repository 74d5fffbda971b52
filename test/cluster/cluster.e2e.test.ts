// End to end: a scheduler and three store processes started with the CLI, talking gRPC on
// loopback. The leader is killed with SIGKILL, then a follower; both restart; no acknowledged
// write is lost.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { connect, ClientError } from '../../src/client/index.js';
import { putThroughAnyStore, startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const dir = tempDir();
const processes: ChildProcess[] = [];

afterAll(() => {
  for (const child of processes) child.kill('SIGKILL');
  dir.cleanup();
});

function startScheduler(): Promise<{ child: ChildProcess; addr: string }> {
  return startSchedulerProcess(`${dir.path}/scheduler`, 3, (child) => processes.push(child));
}

async function startStore(scheduler: string, n: number): Promise<ServerProcess> {
  const store = await startServerProcess([
    '--scheduler',
    scheduler,
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    `${dir.path}/store-${n}`,
    '--raft-base-tick-ms',
    '20',
    '--log-level',
    'warn',
  ]);
  processes.push(store.child);
  return store;
}

function put(stores: Map<number, ServerProcess>, key: string, value: string): Promise<void> {
  return putThroughAnyStore(stores.values(), key, value);
}

async function get(stores: Map<number, ServerProcess>, key: string): Promise<string | undefined> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const store of stores.values()) {
      const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
      try {
        return (await client.get(key))?.toString();
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
      } finally {
        await client.close();
      }
    }
    if (Date.now() > deadline) throw new Error(`get ${key} found no leader`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function leaderIndex(stores: Map<number, ServerProcess>): Promise<number> {
  // Only the leader accepts a write; followers answer NotLeader.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const [n, store] of stores) {
      const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
      try {
        await client.put('probe', String(n));
        return n;
      } catch {
        // not the leader (or not reachable)
      } finally {
        await client.close();
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no leader');
}

describe('three store processes and a scheduler', () => {
  it('loses no acknowledged write when the leader and then a follower are killed and restarted', async () => {
    const scheduler = await startScheduler();
    const stores = new Map<number, ServerProcess>();
    await Promise.all([1, 2, 3].map(async (n) => stores.set(n, await startStore(scheduler.addr, n))));
    const acknowledged = new Map<string, string>();
    const write = async (count: number, tag: string) => {
      for (let i = 0; i < count; i++) {
        const key = `${tag}-${i}`;
        await put(stores, key, `value-${key}`);
        acknowledged.set(key, `value-${key}`);
      }
    };
    await write(30, 'before');

    const leader = await leaderIndex(stores);
    stores.get(leader)!.child.kill('SIGKILL');
    await stores.get(leader)!.exited;
    stores.delete(leader);
    await write(30, 'no-leader');

    const follower = [...stores.keys()].find((n) => n !== leader)!;
    const followerAddr = stores.get(follower)!;
    followerAddr.child.kill('SIGKILL');
    await followerAddr.exited;
    stores.delete(follower);
    stores.set(leader, await startStore(scheduler.addr, leader));
    await write(30, 'one-down');
    stores.set(follower, await startStore(scheduler.addr, follower));
    await write(10, 'all-up');

    for (const [key, value] of acknowledged) expect(await get(stores, key)).toBe(value);
  });
});

describe('a one-store cluster with an embedded scheduler', () => {
  it('serves, stops on SIGTERM with exit 0, and keeps its data across a restart', async () => {
    const dataDir = `${dir.path}/embedded`;
    const args = [
      '--embedded-scheduler',
      '127.0.0.1:0',
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--raft-base-tick-ms',
      '20',
      '--log-level',
      'warn',
    ];
    const first = await startServerProcess(args);
    processes.push(first.child);
    const stores = new Map([[1, first]]);
    await put(stores, 'embedded-key', 'kept');
    expect(await get(stores, 'embedded-key')).toBe('kept');
    // The embedded scheduler serves its admin API and dashboard too (npm start's cluster has them).
    const dashboardUrl = defined(/embedded scheduler dashboard on (\S+)/.exec(first.stdout())?.[1], `dashboard URL in ${first.stdout()}`);
    const dashboard = await fetch(dashboardUrl);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<html');
    const adminUrl = defined(/embedded scheduler admin API on (\S+)/.exec(first.stdout())?.[1], 'admin API URL');
    const stores1 = (await (await fetch(`${adminUrl}/stores`)).json()) as { count: number; stores: Array<{ store: { id: number } }> };
    expect(stores1.count).toBe(1);
    expect(stores1.stores[0]?.store.id).toBe(1);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await startServerProcess(args);
    processes.push(second.child);
    expect(await get(new Map([[1, second]]), 'embedded-key')).toBe('kept');
  });
});
