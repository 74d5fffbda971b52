// TinyKv/BatchCommands (TiKV's streaming batch API, an extension) over real gRPC on loopback,
// against an in-process node on LMDB: many commands per stream message each way, answered by id;
// a failing command answers with its status instead of failing the stream; malformed messages end
// the stream with INVALID_ARGUMENT; the node's counters see batched commands as their unary calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status as GrpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import {
  BatchCommandsRequest_Request,
  TinyKvClient as TinyKvGrpcClient,
  type BatchCommandsRequest,
  type BatchCommandsResponse,
  type BatchCommandsResponse_Response,
} from '../../src/proto/tinykvpb.js';
import { MAX_BATCH_REQUESTS } from '../../src/server/batch-commands.js';
import { silentLogger } from '../../src/log/logger.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string) => Buffer.from(s);

let node: TinyKvNode;
let grpc: TinyKvGrpcClient;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  node = await startServer({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger(), sync: false });
  grpc = new TinyKvGrpcClient(node.addr, credentials.createInsecure());
});

afterAll(async () => {
  grpc.close();
  await node.close();
  dir.cleanup();
});

type Stream = ClientDuplexStream<BatchCommandsRequest, BatchCommandsResponse>;
type Command = Parameters<typeof BatchCommandsRequest_Request.fromPartial>[0];

/** Sends `batches` one stream message each, then ends; resolves with every response by id, or the stream's error. */
function exchange(batches: Array<Array<[bigint, Command]>>): Promise<Map<bigint, BatchCommandsResponse_Response>> {
  return new Promise((resolve, reject) => {
    const stream: Stream = grpc.batchCommands();
    const answers = new Map<bigint, BatchCommandsResponse_Response>();
    stream.on('data', (message: BatchCommandsResponse) => {
      expect(message.requestIds).toHaveLength(message.responses.length);
      message.responses.forEach((response, i) => answers.set(message.requestIds[i]!, response));
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(answers));
    for (const batch of batches) {
      stream.write({ requests: batch.map(([, r]) => BatchCommandsRequest_Request.fromPartial(r)), requestIds: batch.map(([id]) => id) });
    }
    stream.end();
  });
}

describe('BatchCommands', () => {
  it('runs many commands per message and answers each by its id', async () => {
    const puts = await exchange([
      Array.from({ length: 50 }, (_, i): [bigint, Command] => [
        BigInt(1000 + i),
        { rawPut: { key: b(`bk-${i}`), value: b(`v-${i}`), cf: 'default' } },
      ]),
    ]);
    expect(puts.size).toBe(50);
    for (const [id, response] of puts) {
      expect(id >= 1000n && id < 1050n).toBe(true);
      expect(response.rawPut).toMatchObject({ error: '' });
      expect(response.rawPut?.regionError).toBeUndefined();
      expect(response.error).toBeUndefined();
    }
    // Two messages in one stream: gets, a scan, a delete and a transactional get.
    const reads = await exchange([
      [
        [1n, { rawGet: { key: b('bk-7'), cf: 'default' } }],
        [2n, { rawGet: { key: b('missing'), cf: 'default' } }],
      ],
      [
        [3n, { rawScan: { startKey: b('bk-1'), limit: 3, cf: 'default' } }],
        [4n, { rawDelete: { key: b('bk-0'), cf: 'default' } }],
        [5n, { get: { key: b('txn-none'), version: 10n } }],
      ],
    ]);
    expect(reads.get(1n)?.rawGet?.value).toEqual(b('v-7'));
    expect(reads.get(2n)?.rawGet?.notFound).toBe(true);
    expect(reads.get(3n)?.rawScan?.kvs.map((kv) => Buffer.from(kv.key).toString())).toEqual(['bk-1', 'bk-10', 'bk-11']);
    expect(reads.get(4n)?.rawDelete?.error).toBe('');
    expect(reads.get(5n)?.get?.notFound).toBe(true);
  });

  it('answers a failing command with its status and keeps the stream', async () => {
    const answers = await exchange([
      [
        [1n, { rawPut: { key: Buffer.alloc(0), value: b('v'), cf: 'default' } }],
        [2n, {}],
        [3n, { rawGet: { key: b('bk-3'), cf: 'default' } }],
      ],
    ]);
    expect(answers.get(1n)?.error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(answers.get(1n)?.rawPut).toBeUndefined();
    expect(answers.get(2n)?.error).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, message: expect.stringMatching(/no command/) });
    expect(answers.get(3n)?.rawGet?.value).toEqual(b('v-3'));
  });

  it('ends the stream with INVALID_ARGUMENT for ids that do not pair with the commands, or too many commands', async () => {
    const mismatched = new Promise<ServiceError>((resolve) => {
      const stream: Stream = grpc.batchCommands();
      stream.on('error', resolve);
      stream.on('data', () => {});
      stream.write({ requests: [BatchCommandsRequest_Request.fromPartial({ rawGet: { key: b('k'), cf: 'default' } })], requestIds: [] });
    });
    expect((await mismatched).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const tooMany = MAX_BATCH_REQUESTS + 1;
    const oversized = exchange([Array.from({ length: tooMany }, (_, i) => [BigInt(i), { rawGet: { key: b('k'), cf: 'default' } }])]);
    await expect(oversized).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: expect.stringMatching(/at most 1024/) });
  });

  it('splits answers that finish together into messages of at most a few MiB of values', async () => {
    const big = Buffer.alloc(900 * 1024, 7);
    // Five per message: a request message is bounded by the server's receive limit (8 MiB).
    const put = (i: number): [bigint, Command] => [BigInt(i), { rawPut: { key: b(`big-${i}`), value: big, cf: 'default' } }];
    await exchange([Array.from({ length: 5 }, (_, i) => put(i)), Array.from({ length: 5 }, (_, i) => put(i + 5))]);
    const messages: number[] = [];
    const answers = await new Promise<number>((resolve, reject) => {
      const stream: Stream = grpc.batchCommands();
      let count = 0;
      stream.on('data', (message: BatchCommandsResponse) => {
        messages.push(message.responses.length);
        for (const response of message.responses) if (response.rawGet?.value.length === big.length) count++;
      });
      stream.on('error', reject);
      stream.on('end', () => resolve(count));
      stream.write({
        requests: Array.from({ length: 10 }, (_, i) => BatchCommandsRequest_Request.fromPartial({ rawGet: { key: b(`big-${i}`), cf: 'default' } })),
        requestIds: Array.from({ length: 10 }, (_, i) => BigInt(i)),
      });
      stream.end();
    });
    expect(answers).toBe(10);
    // 4 MiB of values per message: ten of 900 KiB need at least three.
    expect(messages.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...messages)).toBeLessThanOrEqual(4);
  });

  it('counts batched commands as their unary calls in the metrics', async () => {
    const scrape = async () => (await fetch(`http://${node.statusAddr}/metrics`)).text();
    const count = (text: string) => Number(/^tinykv_grpc_requests_total\{method="RawGet",code="OK"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    const before = count(await scrape());
    await exchange([Array.from({ length: 20 }, (_, i) => [BigInt(i), { rawGet: { key: b(`bk-${i}`), cf: 'default' } }])]);
    expect(count(await scrape()) - before).toBe(20);
  });
});
