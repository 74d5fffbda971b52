/**
 * The no-op TinyKv gRPC server behind `tinykv bench --target noop`: the same service definition
 * and protobuf codecs as a real node, but RawGet/RawPut/RawScan answer at once without touching
 * storage, so its throughput is the ceiling of gRPC (and of the bench client) on this machine.
 * RawGet returns a value of the bench's value size and RawScan `limit` pairs of the bench's key
 * and value sizes, so the bytes on the wire match a real run. Every other method answers
 * UNIMPLEMENTED.
 *
 * The bench runs it as a child process (compiled: dist/bench/noop-server.js) so that client and
 * server are separate processes, as with a real target:
 *
 *   node dist/bench/noop-server.js [--addr 127.0.0.1:0] [--key-size 16] [--value-size 256]
 *
 * prints one JSON line `{"addr":"127.0.0.1:PORT"}` on stdout once it serves, and exits on
 * SIGTERM/SIGINT or when its stdin closes (so it never outlives the bench).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { TinyKvService } from '../src/proto/tinykvpb.js';
import type { KvPair, RawGetResponse, RawPutResponse, RawScanRequest, RawScanResponse } from '../src/proto/kvrpcpb.js';

export interface NoopServerOptions {
  /** Listen address; port 0 picks a free port. Default 127.0.0.1:0. */
  readonly addr?: string;
  /** Size of the value RawGet and RawScan return. Default 256. */
  readonly valueSize?: number;
  /** Size of the keys RawScan returns. Default 16. */
  readonly keySize?: number;
}

export interface NoopServer {
  /** host:port it listens on, with the real port. */
  readonly addr: string;
  close(): Promise<void>;
}

/** RawScan answers are cached per limit; limits beyond this are answered with this many pairs. */
const MAX_SCAN_PAIRS = 10_000;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export async function startNoopServer(options: NoopServerOptions = {}): Promise<NoopServer> {
  const addr = options.addr ?? '127.0.0.1:0';
  const value = Buffer.alloc(options.valueSize ?? 256, 0x61);
  const key = Buffer.alloc(options.keySize ?? 16, 0x6b);

  const putResponse: RawPutResponse = { regionError: undefined, error: '' };
  const getResponse: RawGetResponse = { regionError: undefined, error: '', value, notFound: false };
  const scanResponses = new Map<number, RawScanResponse>();
  const scanResponse = (limit: number): RawScanResponse => {
    const n = Math.min(limit, MAX_SCAN_PAIRS);
    let res = scanResponses.get(n);
    if (!res) {
      const kvs: KvPair[] = Array.from({ length: n }, () => ({ error: undefined, key, value }));
      res = { regionError: undefined, error: '', kvs };
      scanResponses.set(n, res);
    }
    return res;
  };

  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  // Methods left out answer UNIMPLEMENTED (grpc-js's default handler).
  server.addService(TinyKvService, {
    rawGet: (_call: ServerUnaryCall<unknown, RawGetResponse>, callback: sendUnaryData<RawGetResponse>) => callback(null, getResponse),
    rawPut: (_call: ServerUnaryCall<unknown, RawPutResponse>, callback: sendUnaryData<RawPutResponse>) => callback(null, putResponse),
    rawScan: (call: ServerUnaryCall<RawScanRequest, RawScanResponse>, callback: sendUnaryData<RawScanResponse>) =>
      callback(null, scanResponse(call.request.limit)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  const host = addr.slice(0, addr.lastIndexOf(':'));
  let closing: Promise<void> | undefined;
  return {
    addr: `${host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}

function parseArgs(argv: readonly string[]): NoopServerOptions {
  const options: { addr?: string; valueSize?: number; keySize?: number } = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === '--addr') options.addr = value;
    else if (flag === '--value-size') options.valueSize = Number(value);
    else if (flag === '--key-size') options.keySize = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  for (const [name, n] of [
    ['--value-size', options.valueSize],
    ['--key-size', options.keySize],
  ] as const) {
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) throw new Error(`${name} must be a byte count`);
  }
  return options;
}

async function main(): Promise<void> {
  const server = await startNoopServer(parseArgs(process.argv.slice(2)));
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The bench holds our stdin open; when it goes away (exit, crash, kill -9), so do we.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ addr: server.addr })}\n`);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((err: unknown) => {
    process.stderr.write(`noop-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
