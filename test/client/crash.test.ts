/**
 * Clients "killed" in the middle of a commit (a failpoint throws, then the client is closed, so
 * nothing cleans up) leave locks behind; later readers must resolve them:
 * - killed after the primary's commit: the transaction is committed, readers commit the
 *   secondaries at once (without waiting for the TTL) and see the new values;
 * - killed before the primary's commit: readers wait for the TTL, then roll the locks back and
 *   see the old values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetRequest } from '../../src/proto/kvrpcpb.js';
import { ClientErrorCode, isClientError, type TinyKvClient } from '../../src/client/index.js';
import { startTestNode, str, type TestNode } from './helpers.js';

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.stop());

class Killed extends Error {}

/** Whether `key` holds a lock visible at a fresh timestamp (read without resolving it). */
async function isLocked(client: TinyKvClient, key: string): Promise<boolean> {
  const ts = await client.getTimestamp();
  const k = Buffer.from(key);
  const { response } = await client.sender.sendToKey(k, 'kvGet', (context) => GetRequest.fromPartial({ context, key: k, version: ts }));
  return response.error?.locked !== undefined;
}

async function seed(client: TinyKvClient, keys: string[], value: string): Promise<void> {
  await client.transaction(async (txn) => {
    for (const key of keys) txn.put(key, value);
  });
}

describe('a client killed during commit', () => {
  it('between primary and secondary commit: readers resolve the locks to the committed values', async () => {
    const keys = ['kp-1', 'kp-2', 'kp-3', 'kp-4'];
    const observer = await t.client();
    await seed(observer, keys, 'old');

    const victim = await t.client();
    // A long TTL: resolution must not wait for it, since the primary is committed.
    const txn = await victim.begin({
      lockTtlMs: 60_000,
      failpoints: {
        afterPrimaryCommit: () => {
          throw new Killed('killed after the primary commit');
        },
      },
    });
    for (const key of keys) txn.put(key, 'new');
    await expect(txn.commit()).rejects.toBeInstanceOf(Killed);
    await victim.close();

    expect(await isLocked(observer, 'kp-1')).toBe(false); // the primary (first key) is committed
    for (const key of keys.slice(1)) expect(await isLocked(observer, key)).toBe(true);

    const reader = await t.client();
    const started = Date.now();
    const values = await reader.transaction((r) => r.batchGet(keys));
    expect(values.map(str)).toEqual(['new', 'new', 'new', 'new']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(reader.resolver.stats.committed).toBeGreaterThan(0);
    expect(reader.resolver.stats.rolledBack).toBe(0);
    for (const key of keys) expect(await isLocked(observer, key)).toBe(false);
    // A scan after resolution sees the committed values too.
    const scanned = await observer.transaction((r) => r.scan('kp-', 'kp.', 10));
    expect(scanned.map((p) => p.value.toString())).toEqual(['new', 'new', 'new', 'new']);
  });

  it('between primary and secondary commit: a scan resolves the locks too', async () => {
    const keys = ['ks-1', 'ks-2', 'ks-3'];
    const observer = await t.client();
    await seed(observer, keys, 'old');
    const victim = await t.client();
    const txn = await victim.begin({ lockTtlMs: 60_000, failpoints: { afterPrimaryCommit: () => Promise.reject(new Killed()) } });
    for (const key of keys) txn.put(key, 'new');
    txn.delete('ks-3');
    await expect(txn.commit()).rejects.toBeInstanceOf(Killed);
    await victim.close();
    expect(await isLocked(observer, 'ks-3')).toBe(true);

    const reader = await t.client();
    const scanned = await reader.transaction((r) => r.scan('ks-', 'ks.', 10));
    expect(scanned.map((p) => `${p.key.toString()}=${p.value.toString()}`)).toEqual(['ks-1=new', 'ks-2=new']);
    expect(reader.resolver.stats.committed).toBeGreaterThan(0);
  });

  it('before the primary commit: locks block readers until their TTL, then are rolled back', async () => {
    const keys = ['kb-1', 'kb-2', 'kb-3', 'kb-4'];
    const observer = await t.client();
    await seed(observer, keys, 'old');

    const ttlMs = 300;
    const victim = await t.client();
    const txn = await victim.begin({
      lockTtlMs: ttlMs,
      failpoints: {
        afterPrewrite: () => {
          throw new Killed('killed before the primary commit');
        },
      },
    });
    for (const key of keys) txn.put(key, 'new');
    const prewrittenBy = Date.now();
    await expect(txn.commit()).rejects.toBeInstanceOf(Killed);
    await victim.close();
    for (const key of keys) expect(await isLocked(observer, key)).toBe(true);

    // A reader that may not wait long gives up with a retryable LockResolveTimeout while the lock is live.
    const impatient = await t.client({ lockWaitTimeoutMs: 20 });
    const err = await impatient.transaction((r) => r.get('kb-2'), { maxAttempts: 1 }).catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.LockResolveTimeout)).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);

    // A patient reader waits for the TTL, then rolls the transaction back and sees the old values.
    const reader = await t.client();
    const values = await reader.transaction((r) => r.batchGet(keys));
    const waited = Date.now() - prewrittenBy;
    expect(values.map(str)).toEqual(['old', 'old', 'old', 'old']);
    expect(waited).toBeGreaterThanOrEqual(ttlMs - 50); // clocks: TSO physical vs Date.now(), allow a little slack
    expect(reader.resolver.stats.rolledBack).toBeGreaterThan(0);
    expect(reader.resolver.stats.committed).toBe(0);
    for (const key of keys) expect(await isLocked(observer, key)).toBe(false);

    // The keys are writable again, and the rolled-back transaction can never commit later.
    await observer.transaction(async (w) => w.put('kb-1', 'after'), { maxAttempts: 1 });
    expect(str(await observer.transaction((r) => r.get('kb-1')))).toBe('after');
  });

  it('before the primary commit: a writer (not only a reader) cleans up expired locks', async () => {
    const observer = await t.client();
    await seed(observer, ['kw-1', 'kw-2'], 'old');
    const victim = await t.client();
    const txn = await victim.begin({ lockTtlMs: 100, failpoints: { afterPrewrite: () => Promise.reject(new Killed()) } });
    txn.put('kw-1', 'new');
    txn.put('kw-2', 'new');
    await expect(txn.commit()).rejects.toBeInstanceOf(Killed);
    await victim.close();
    // A blind write (no read first) meets the locks at prewrite; once they expire, it resolves them and goes through.
    const writer = await t.client();
    await writer.transaction(
      async (w) => {
        w.put('kw-2', 'written');
      },
      { maxAttempts: 50, backoffBaseMs: 20, backoffMaxMs: 50 },
    );
    expect(writer.resolver.stats.rolledBack).toBeGreaterThan(0);
    expect((await observer.transaction((r) => r.batchGet(['kw-1', 'kw-2']))).map(str)).toEqual(['old', 'written']);
  });
});
