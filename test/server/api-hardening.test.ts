// Issue #9, item 12 (server API): KvScan's response cap, raw writes to the transaction families,
// damaged MVCC records confined to their key, and error messages that echo bounded client input.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { connect, type TinyKvClient as TxnClient } from '../../src/client/index.js';
import { TinyKvClient } from '../../src/proto/tinykvpb.js';
import {
  GetRequest,
  RawDeleteRequest,
  RawGetRequest,
  RawPutRequest,
  ScanRequest,
  type GetResponse,
  type RawGetResponse,
  type ScanResponse,
} from '../../src/proto/kvrpcpb.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { quoteForError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

function call<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

function failure(invoke: (cb: (err: ServiceError | null, res: unknown) => void) => unknown): Promise<ServiceError> {
  return call(invoke).then(
    () => {
      throw new Error('the call succeeded');
    },
    (err: ServiceError) => err,
  );
}

const MiB = 1024 * 1024;

describe('KvScan stops at limits.max-scan-response-size and the client pages on', () => {
  let node: TinyKvNode;
  let kv: TinyKvClient;
  let client: TxnClient;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir();
    node = await startServer({
      addr: '127.0.0.1:0',
      dataDir: dir.path,
      sync: false,
      logger: silentLogger(),
      limits: { maxValueSizeBytes: 600 * 1024, maxMessageSizeBytes: 2 * MiB, maxScanResponseBytes: MiB },
    });
    kv = new TinyKvClient(node.addr, credentials.createInsecure());
    client = await connect({ addr: node.addr });
    // Six 500 KiB values: 3 MiB in all, more than the server may send in one message.
    for (let i = 0; i < 6; i++) {
      await client.transaction((txn) => txn.put(`big-${i}`, Buffer.alloc(500 * 1024, 97 + i)));
    }
  }, 60_000);

  afterAll(async () => {
    kv.close();
    await client.close();
    await node.close();
    dir.cleanup();
  });

  it('returns fewer pairs than the limit once the pairs add up to the cap (not RESOURCE_EXHAUSTED)', async () => {
    const version = (1n << 62n) - 1n;
    const page = await call<ScanResponse>((cb) => kv.kvScan(ScanRequest.fromPartial({ startKey: Buffer.from('big-'), limit: 100, version }), cb));
    expect(page.pairs.length).toBeGreaterThanOrEqual(1);
    expect(page.pairs.length).toBeLessThan(6);
    const bytes = page.pairs.reduce((sum, p) => sum + p.key.length + p.value.length, 0);
    expect(bytes).toBeLessThanOrEqual(MiB);
    expect(defined(page.pairs[0], 'page.pairs[0]').key.toString()).toBe('big-0');
  });

  it('returns one pair even when that pair alone is over the cap, so paging makes progress', async () => {
    const tiny = await startServer({ addr: '127.0.0.1:0', engine: 'memory', logger: silentLogger(), limits: { maxScanResponseBytes: 1 } });
    const tinyClient = await connect({ addr: tiny.addr });
    try {
      await tinyClient.transaction((txn) => {
        txn.put('a', 'xx');
        txn.put('b', 'yy');
      });
      expect((await tinyClient.transaction((txn) => txn.scan('a', undefined, 10))).map((p) => p.key.toString())).toEqual(['a', 'b']);
    } finally {
      await tinyClient.close();
      await tiny.close();
    }
  });

  it("the client's transactional scan continues from the last key of a short page", async () => {
    const pairs = await client.transaction((txn) => txn.scan('big-', 'big.', 100));
    expect(pairs.map((p) => p.key.toString())).toEqual(['big-0', 'big-1', 'big-2', 'big-3', 'big-4', 'big-5']);
    expect(pairs.every((p, i) => p.value.length === 500 * 1024 && p.value[0] === 97 + i)).toBe(true);
  });
});

describe('raw writes to the lock and write column families', () => {
  let node: TinyKvNode;
  let kv: TinyKvClient;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir();
    node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, sync: false, logger: silentLogger() });
    kv = new TinyKvClient(node.addr, credentials.createInsecure());
  });

  afterAll(async () => {
    kv.close();
    await node.close();
    dir.cleanup();
  });

  it('RawPut and RawDelete to lock or write are refused by default with KV:Server:RawWriteToTxnFamily', async () => {
    for (const cf of ['lock', 'write']) {
      const put = await failure((cb) => kv.rawPut(RawPutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), cf }), cb));
      expect(put.code).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(put.metadata.get('tinykv-error-code')).toEqual(['KV:Server:RawWriteToTxnFamily']);
      expect(put.details).toContain('allow-raw-txn-cf-writes');
      const del = await failure((cb) => kv.rawDelete(RawDeleteRequest.fromPartial({ key: Buffer.from('k'), cf }), cb));
      expect(del.code).toBe(GrpcStatus.FAILED_PRECONDITION);
      // Reads of those families stay allowed (diagnostics).
      const got = await call<RawGetResponse>((cb) => kv.rawGet(RawGetRequest.fromPartial({ key: Buffer.from('k'), cf }), cb));
      expect(got.notFound).toBe(true);
    }
    // The default family is unaffected.
    await call((cb) => kv.rawPut(RawPutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') }), cb));
  });
});

describe('a damaged lock or write record costs its key only, and is logged', () => {
  let node: TinyKvNode;
  let kv: TinyKvClient;
  let client: TxnClient;
  let dir: ReturnType<typeof tempDir>;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    dir = tempDir();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    node = await startServer({
      addr: '127.0.0.1:0',
      dataDir: dir.path,
      sync: false,
      allowRawTxnCfWrites: true,
      logger: pino({ level: 'error' }, sink),
    });
    kv = new TinyKvClient(node.addr, credentials.createInsecure());
    client = await connect({ addr: node.addr });
    await client.transaction((txn) => {
      for (const key of ['d-1', 'd-2', 'd-3', 'd-4']) txn.put(key, `value of ${key}`);
    });
    // The switch is on: a hand-written lock record that does not decode (3 bytes, at d-2's lock key), and a write-CF
    // record under a key that is not an encoded MVCC key at all.
    await call((cb) => kv.rawPut(RawPutRequest.fromPartial({ key: encodeBytes(Buffer.from('d-2')), value: Buffer.from([1, 2, 3]), cf: 'lock' }), cb));
    await call((cb) => kv.rawPut(RawPutRequest.fromPartial({ key: Buffer.from('d-3x'), value: Buffer.from([1]), cf: 'write' }), cb));
  }, 30_000);

  afterAll(async () => {
    kv.close();
    await client.close();
    await node.close();
    dir.cleanup();
  });

  it('KvGet of the damaged key is DATA_LOSS naming the key; its neighbours read fine', async () => {
    const version = (1n << 62n) - 1n;
    const err = await failure((cb) => kv.kvGet(GetRequest.fromPartial({ key: Buffer.from('d-2'), version }), cb));
    expect(err.code).toBe(GrpcStatus.DATA_LOSS);
    expect(err.details).toContain(quoteForError(Buffer.from('d-2')));
    const ok = await call<GetResponse>((cb) => kv.kvGet(GetRequest.fromPartial({ key: Buffer.from('d-1'), version }), cb));
    expect(ok.value.toString()).toBe('value of d-1');
  });

  it('KvScan over the range returns every other key, with a Corruption abort for the damaged ones', async () => {
    const version = (1n << 62n) - 1n;
    const page = await call<ScanResponse>((cb) => kv.kvScan(ScanRequest.fromPartial({ startKey: Buffer.from('d-'), limit: 10, version }), cb));
    const summary = page.pairs.map((p) => [p.key.toString('latin1'), p.error ? p.error.abort.split(':').slice(0, 3).join(':') : p.value.toString()]);
    expect(summary).toEqual([
      ['d-1', 'value of d-1'],
      ['d-2', 'KV:Txn:Corruption'],
      ['d-3', 'value of d-3'],
      ['d-3x', 'KV:Txn:Corruption'],
      ['d-4', 'value of d-4'],
    ]);
  });

  it('logs each damaged record at error level with its key', async () => {
    const damaged = logLines.filter((line) => line['msg'] === 'damaged MVCC record: reads of this key fail with DATA_LOSS');
    expect(damaged.length).toBeGreaterThanOrEqual(2);
    expect(damaged.map((line) => line['key'])).toContain(quoteForError(Buffer.from('d-2'), 256));
    expect(damaged.every((line) => line['level'] === 50)).toBe(true);
  });

  it('a transaction that meets the damaged lock fails for that key, and the client says so', async () => {
    await expect(client.transaction((txn) => txn.get('d-2'), { maxAttempts: 1 })).rejects.toThrow();
    expect((await client.transaction((txn) => txn.get('d-4')))?.toString()).toBe('value of d-4');
  });
});

describe('error messages echo bounded client input', () => {
  let node: TinyKvNode;
  let kv: TinyKvClient;

  beforeAll(async () => {
    node = await startServer({ addr: '127.0.0.1:0', engine: 'memory', logger: silentLogger() });
    kv = new TinyKvClient(node.addr, credentials.createInsecure());
  });

  afterAll(async () => {
    kv.close();
    await node.close();
  });

  it('an 8,000-character column family name is cut in the error, which arrives intact as INVALID_ARGUMENT', async () => {
    const cf = 'x'.repeat(8_000);
    const err = await failure((cb) => kv.rawGet(RawGetRequest.fromPartial({ key: Buffer.from('k'), cf }), cb));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.metadata.get('tinykv-error-code')).toEqual(['KV:Server:UnknownColumnFamily']);
    expect(err.details.length).toBeLessThan(300);
    expect(err.details).toContain('(8000 chars)');
  });

  it('a huge name full of control characters is escaped and cut too', async () => {
    const cf = '\u0000\n'.repeat(20_000);
    const err = await failure((cb) => kv.rawPut(RawPutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), cf }), cb));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details.length).toBeLessThan(1_100);
    expect(err.details).not.toContain('\n');
  });

  it('quoteForError keeps short input whole and cuts long input with its length', () => {
    expect(quoteForError('lock')).toBe('"lock"');
    expect(quoteForError('y'.repeat(100), 10)).toBe('"yyyyyyyyyy"... (100 chars)');
    expect(quoteForError(Buffer.from([1, 2]))).toBe('0x0102');
    expect(quoteForError(Buffer.alloc(100), 8)).toBe('0x00000000... (100 bytes)');
  });
});
