// The raw API of tinykv/client over gRPC against a standalone node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, ClientErrorCode, connect, isClientError, type TinyKvClient } from '../../src/client/index.js';
import { startTestNode, str, type TestNode } from './helpers.js';

let t: TestNode;
let client: TinyKvClient;

beforeAll(async () => {
  t = await startTestNode();
  client = await t.client();
});
afterAll(() => t.stop());

describe('raw API', () => {
  it('puts, gets and deletes', async () => {
    await client.put('raw-a', 'one');
    expect(str(await client.get('raw-a'))).toBe('one');
    await client.put(Buffer.from('raw-a'), Buffer.from('two'));
    expect(str(await client.get('raw-a'))).toBe('two');
    await client.delete('raw-a');
    expect(await client.get('raw-a')).toBeUndefined();
  });

  it('keeps binary keys and values intact', async () => {
    const key = Buffer.from([0, 255, 1, 0]);
    const value = Buffer.from([255, 0, 0, 7]);
    await client.put(key, value);
    expect(await client.get(key)).toEqual(value);
  });

  it('scans a range in key order, honouring end and limit, across pages', async () => {
    const pairs = Array.from({ length: 1500 }, (_, i) => ({ key: `scan-${String(i).padStart(5, '0')}`, value: `v${i}` }));
    await client.batchPut(pairs);
    const all = await client.scan('scan-', 'scan.', 5000); // '.' sorts right after '-'
    expect(all.map((p) => p.key.toString())).toEqual(pairs.map((p) => p.key));
    const some = await client.scan('scan-00010', 'scan-00013', 100);
    expect(some.map((p) => p.value.toString())).toEqual(['v10', 'v11', 'v12']);
    const limited = await client.scan('scan-', undefined, 7);
    expect(limited).toHaveLength(7);
    expect(await client.scan('scan-', undefined, 0)).toEqual([]);
  });

  it('batch gets in order, with undefined for missing keys, and batch deletes', async () => {
    await client.batchPut([
      { key: 'bg-1', value: 'a' },
      { key: 'bg-2', value: 'b' },
    ]);
    expect((await client.batchGet(['bg-2', 'bg-missing', 'bg-1'])).map(str)).toEqual(['b', undefined, 'a']);
    await client.batchDelete(['bg-1', 'bg-2']);
    expect((await client.batchGet(['bg-1', 'bg-2'])).map(str)).toEqual([undefined, undefined]);
  });

  it('rejects an empty key client-side with InvalidArgument', async () => {
    const err = await client.get('').catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.InvalidArgument)).toBe(true);
    expect((err as ClientError).retryable).toBe(false);
  });

  it('maps a server rejection to a typed error carrying the server code', async () => {
    const err = await client.put('too-big', Buffer.alloc(2 * 1024 * 1024)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(ClientErrorCode.InvalidArgument);
    expect((err as ClientError).serverCode).toBe('KV:Server:ValueTooLarge');
  });

  it('reports an unreachable node as a retryable Transport error', async () => {
    const err = await connect({ addr: '127.0.0.1:1', requestTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(isClientError(err, ClientErrorCode.Transport)).toBe(true);
    expect((err as ClientError).retryable).toBe(true);
  });

  it('needs exactly one of scheduler and addr', async () => {
    await expect(connect({})).rejects.toMatchObject({ code: ClientErrorCode.InvalidArgument });
    await expect(connect({ addr: t.addr, scheduler: t.addr })).rejects.toMatchObject({ code: ClientErrorCode.InvalidArgument });
  });

  it('fails calls after close with ClientClosed', async () => {
    const other = await connect({ addr: t.addr });
    await other.close();
    await expect(other.get('x')).rejects.toMatchObject({ code: ClientErrorCode.ClientClosed });
  });

  it('works through `scheduler` pointing at a standalone node', async () => {
    const viaScheduler = await connect({ scheduler: [t.addr] });
    try {
      await viaScheduler.put('via-scheduler', 'yes');
      expect(str(await client.get('via-scheduler'))).toBe('yes');
      expect(viaScheduler.clusterId).toBe(client.clusterId);
      expect(viaScheduler.clusterId).toBeGreaterThan(0n);
    } finally {
      await viaScheduler.close();
    }
  });
});
