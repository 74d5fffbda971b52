// Transactions of tinykv/client over gRPC against a standalone node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, ClientErrorCode, isClientError, type TinyKvClient } from '../../src/client/index.js';
import { startTestNode, str, type TestNode } from './helpers.js';
import { defined } from '../../src/util/assert.js';

let t: TestNode;
let client: TinyKvClient;

beforeAll(async () => {
  t = await startTestNode();
  client = await t.client();
});
afterAll(() => t.stop());

async function committedValue(key: string): Promise<string | undefined> {
  return client.transaction(async (txn) => str(await txn.get(key)));
}

describe('transactions', () => {
  it('reads its own writes and deletes before commit, and commits them', async () => {
    await client.transaction(async (txn) => txn.put('ryw-gone', 'x'));
    const txn = await client.begin();
    expect(await txn.get('ryw-a')).toBeUndefined();
    txn.put('ryw-a', '1');
    expect(str(await txn.get('ryw-a'))).toBe('1');
    txn.delete('ryw-gone');
    expect(await txn.get('ryw-gone')).toBeUndefined();
    expect(await committedValue('ryw-a')).toBeUndefined(); // invisible to others before commit
    const commitTs = await txn.commit();
    expect(commitTs).toBeGreaterThan(txn.startTs);
    expect(txn.state).toBe('committed');
    expect(await committedValue('ryw-a')).toBe('1');
    expect(await committedValue('ryw-gone')).toBeUndefined();
  });

  it('stores empty values as values, not deletes', async () => {
    await client.transaction(async (txn) => txn.put('empty-value', ''));
    const value = await client.transaction((txn) => txn.get('empty-value'));
    expect(value).toEqual(Buffer.alloc(0));
  });

  it('gives snapshot isolation: a transaction does not see a later commit', async () => {
    await client.transaction(async (txn) => txn.put('si', 'old'));
    const reader = await client.begin();
    expect(str(await reader.get('si-other'))).toBeUndefined();
    await client.transaction(async (txn) => {
      txn.put('si', 'new');
      txn.put('si-other', 'new');
    });
    expect(str(await reader.get('si'))).toBe('old');
    expect(str(await reader.get('si-other'))).toBeUndefined();
    expect((await reader.scan('si', 'sj', 10)).map((p) => p.value.toString())).toEqual(['old']);
    await reader.commit(); // read-only: nothing to commit
    expect(reader.commitTs).toBeUndefined();
    expect(await committedValue('si')).toBe('new');
  });

  it('scans the snapshot merged with its own puts and deletes', async () => {
    await client.transaction(async (txn) => {
      for (const k of ['m-1', 'm-3', 'm-5', 'm-7']) txn.put(k, `s${k}`);
    });
    const txn = await client.begin();
    txn.put('m-2', 'own2');
    txn.put('m-5', 'own5');
    txn.delete('m-3');
    txn.put('m-9', 'own9'); // outside the range
    const all = await txn.scan('m-', 'm-9', 100);
    expect(all.map((p) => `${p.key.toString()}=${p.value.toString()}`)).toEqual(['m-1=sm-1', 'm-2=own2', 'm-5=own5', 'm-7=sm-7']);
    const two = await txn.scan('m-', undefined, 2);
    expect(two.map((p) => p.key.toString())).toEqual(['m-1', 'm-2']);
    await txn.rollback();
    expect(await committedValue('m-2')).toBeUndefined();
  });

  it('surfaces a write conflict as a retryable WriteConflict, and nothing of the loser is visible', async () => {
    await client.transaction(async (txn) => txn.put('wc', '0'));
    const a = await client.begin();
    const b = await client.begin();
    a.put('wc', 'a');
    a.put('wc-a-only', 'a');
    b.put('wc', 'b');
    await b.commit();
    const err = await a.commit().catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.WriteConflict)).toBe(true);
    expect((err as ClientError).retryable).toBe(true);
    expect(a.state).toBe('failed');
    expect(await committedValue('wc')).toBe('b');
    expect(await committedValue('wc-a-only')).toBeUndefined();
  });

  it('transaction() retries after a write conflict and succeeds', async () => {
    await client.transaction(async (txn) => txn.put('counter', '0'));
    let attempts = 0;
    const result = await client.transaction(
      async (txn) => {
        attempts++;
        const n = Number(str(await txn.get('counter')));
        if (attempts === 1) {
          // Someone else commits to the key after our snapshot: our commit must conflict.
          await client.transaction(async (other) => other.put('counter', '100'));
        }
        txn.put('counter', String(n + 1));
        return n + 1;
      },
      { backoffBaseMs: 1 },
    );
    expect(attempts).toBe(2);
    expect(result).toBe(101);
    expect(await committedValue('counter')).toBe('101');
  });

  it('transaction() gives up after maxAttempts with the last retryable error', async () => {
    await client.transaction(async (txn) => txn.put('always', '0'));
    let attempts = 0;
    const err = await client
      .transaction(
        async (txn) => {
          attempts++;
          await txn.get('always');
          await client.transaction(async (other) => other.put('always', String(attempts)));
          txn.put('always', 'never');
        },
        { maxAttempts: 3, backoffBaseMs: 1 },
      )
      .catch((e: unknown) => e);
    expect(attempts).toBe(3);
    expect(isClientError(err, ClientErrorCode.WriteConflict)).toBe(true);
  });

  it('transaction() does not retry a non-retryable error and rolls back', async () => {
    let attempts = 0;
    await expect(
      client.transaction(async (txn) => {
        attempts++;
        txn.put('nr', 'x');
        throw new Error('application bug');
      }),
    ).rejects.toThrow('application bug');
    expect(attempts).toBe(1);
    expect(await committedValue('nr')).toBeUndefined();
  });

  it('fails the commit with TxnRolledBack when a reader rolled the transaction back (expired locks)', async () => {
    await client.transaction(async (txn) => txn.put('rb-1', 'before'));
    const reader = await t.client();
    const txn = await client.begin({
      lockTtlMs: 1,
      failpoints: {
        // Between prewrite and commit, a reader meets the expired lock and rolls the transaction back.
        afterPrewrite: async () => {
          await new Promise((r) => setTimeout(r, 20));
          expect(str(await reader.transaction((r) => r.get('rb-1')))).toBe('before');
        },
      },
    });
    txn.put('rb-1', 'after');
    txn.put('rb-2', 'after');
    const err = await txn.commit().catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.TxnRolledBack)).toBe(true);
    expect((err as ClientError).retryable).toBe(true);
    expect((err as ClientError).serverCode).toBe('KV:Txn:RolledBack');
    expect(reader.resolver.stats.rolledBack).toBeGreaterThan(0);
    expect(await committedValue('rb-1')).toBe('before');
    expect(await committedValue('rb-2')).toBeUndefined();
    // The secondaries' locks were cleaned up by the failed commit: a write to rb-2 goes through at once.
    await client.transaction(async (w) => w.put('rb-2', 'later'), { maxAttempts: 1 });
  });

  it('closes a finished transaction: further calls fail with TxnClosed', async () => {
    const txn = await client.begin();
    txn.put('closed', '1');
    await txn.commit();
    expect(() => txn.put('closed', '2')).toThrow(expect.objectContaining({ code: ClientErrorCode.TxnClosed }));
    await expect(txn.get('closed')).rejects.toMatchObject({ code: ClientErrorCode.TxnClosed });
    await expect(txn.commit()).rejects.toMatchObject({ code: ClientErrorCode.TxnClosed });
    await expect(txn.rollback()).rejects.toMatchObject({ code: ClientErrorCode.TxnClosed });
    const rolled = await client.begin();
    await rolled.rollback();
    await rolled.rollback(); // idempotent
    expect(rolled.state).toBe('rolledBack');
  });

  it('bounds the write buffer with TxnTooLarge', async () => {
    const txn = await client.begin({ maxKeys: 2, maxBytes: 100 });
    txn.put('big-1', 'x');
    txn.put('big-1', 'y'); // overwriting does not count twice
    txn.put('big-2', 'x');
    expect(() => txn.put('big-3', 'x')).toThrow(expect.objectContaining({ code: ClientErrorCode.TxnTooLarge }));
    expect(() => txn.put('big-2', 'x'.repeat(200))).toThrow(expect.objectContaining({ code: ClientErrorCode.TxnTooLarge }));
    await txn.rollback();
  });

  it('commits many keys in several prewrite batches', async () => {
    const n = 5000;
    await client.transaction(async (txn) => {
      for (let i = 0; i < n; i++) txn.put(`many-${String(i).padStart(5, '0')}`, Buffer.alloc(600, i % 256));
    });
    const pairs = await client.transaction((txn) => txn.scan('many-', 'many.', n + 10));
    expect(pairs).toHaveLength(n);
    expect(defined(pairs[4999], 'pairs[4999]').value).toEqual(Buffer.alloc(600, 4999 % 256));
  });

  it('reports a server-rejected key at commit as InvalidArgument and leaves nothing behind', async () => {
    const txn = await client.begin();
    txn.put('ok-key', 'v');
    txn.put(Buffer.alloc(4000, 1), 'v');
    const err = await txn.commit().catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.InvalidArgument)).toBe(true);
    expect((err as ClientError).serverCode).toBe('KV:Txn:KeyTooLarge');
    expect(await committedValue('ok-key')).toBeUndefined();
  });
});
