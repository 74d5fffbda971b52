// The transaction example of src/client/README.md, kept runnable here. readme-example.test.ts runs
// it and checks that the README contains the region below verbatim (with the import path of the
// published package instead of the relative one).
// #region readme
import { connect } from '../../src/client/index.js';

export async function example(addr: string): Promise<{ alice: number; bob: number }> {
  const client = await connect({ addr }); // or connect({ scheduler: ['pd-host:2379'] })
  try {
    await client.transaction(async (txn) => {
      txn.put('alice', '100');
      txn.put('bob', '50');
    });

    // Move 30 from alice to bob, atomically. On a write conflict the callback runs
    // again in a new transaction (after a backoff), so keep side effects out of it.
    await client.transaction(async (txn) => {
      const alice = Number(await txn.get('alice'));
      const bob = Number(await txn.get('bob'));
      if (alice < 30) throw new Error('insufficient funds');
      txn.put('alice', String(alice - 30));
      txn.put('bob', String(bob + 30));
    });

    // Read both in one snapshot.
    return await client.transaction(async (txn) => {
      const [alice, bob] = await txn.batchGet(['alice', 'bob']);
      return { alice: Number(alice), bob: Number(bob) };
    });
  } finally {
    await client.close();
  }
}
// #endregion readme
