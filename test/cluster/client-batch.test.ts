// tinykv/client with batchCommands on, against the real threaded cluster: concurrent raw calls and
// transactions travel in BatchCommands streams to the stores and come back to their callers.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import { InProcessCluster } from './harness.js';

let cluster: InProcessCluster | undefined;
let client: TinyKvClient | undefined;
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

describe('tinykv/client over BatchCommands', () => {
  it('serves concurrent raw calls and transactions through the streams', async () => {
    cluster = await InProcessCluster.start({ raftPollers: 2 }, {}, { initialRegions: 4 });
    client = await connect({ scheduler: cluster.scheduler.addr, batchCommands: true });
    const c = client;
    const keys = Array.from({ length: 300 }, (_, i) => `batch-${String(i * 997).padStart(6, '0')}`);
    await Promise.all(keys.map((key) => c.put(key, `v:${key}`)));
    const values = await Promise.all(keys.map((key) => c.get(key)));
    expect(values.map((v) => v?.toString())).toEqual(keys.map((key) => `v:${key}`));
    // Transactions moving one unit between two accounts, some concurrently: the total stays.
    await c.transaction((txn) => {
      txn.put('acct-a', '100');
      txn.put('acct-z', '100');
    });
    const move = () =>
      c.transaction(async (txn) => {
        const a = Number((await txn.get('acct-a'))?.toString());
        const z = Number((await txn.get('acct-z'))?.toString());
        txn.put('acct-a', String(a - 1));
        txn.put('acct-z', String(z + 1));
      });
    for (let round = 0; round < 5; round++) await Promise.all([move(), move()]);
    // Read back in a transaction (raw gets do not read transactional data).
    const [a, z] = await c.transaction(async (txn) => [Number((await txn.get('acct-a'))?.toString()), Number((await txn.get('acct-z'))?.toString())]);
    expect(a + z).toBe(200);
    expect(z - 100).toBe(10);
  });
});
