/**
 * End to end against the compiled `tinykv server`: a client that opens many calls and never reads
 * the answers holds a bounded amount of the server's memory (server.grpc-memory-quota), gets
 * RESOURCE_EXHAUSTED past the bound, and other clients keep being answered; one connection may
 * open at most server.max-concurrent-streams calls at once.
 */
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { TinyKvClient } from '../../src/proto/tinykvpb.js';
import { RawScanRequest } from '../../src/proto/kvrpcpb.js';
import { startServerProcess, type ServerProcess } from '../helpers/cli-process.js';

const servers: ServerProcess[] = [];
const sessions: ClientHttp2Session[] = [];
const clients: TinyKvClient[] = [];

afterEach(() => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.child.kill('SIGKILL');
});

async function start(extra: string[]): Promise<ServerProcess> {
  const server = await startServerProcess(['--standalone', '--engine', 'memory', '--addr', '127.0.0.1:0', '--log-level', 'warn', ...extra]);
  servers.push(server);
  return server;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function unary<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

describe('slow clients cannot grow the server without bound', () => {
  it('unread RawScans: answers past the memory quota are refused, RSS stays bounded, others are answered', async () => {
    const server = await start(['--grpc-memory-quota', '32MiB']);
    const client = new TinyKvClient(server.addr, credentials.createInsecure());
    clients.push(client);
    // 130 values of 10 KiB: every full scan answers about 1.3 MB.
    const value = Buffer.alloc(10 * 1024, 7);
    for (let i = 0; i < 130; i++) {
      await unary((cb) => client.rawPut({ context: undefined, key: Buffer.from(`key-${String(i).padStart(4, '0')}`), value, cf: 'default' }, cb));
    }
    await sleep(500);
    const idleMiB = rssMiB(server.child.pid!);

    const session = connect(`http://${server.addr}`);
    session.on('error', () => {});
    sessions.push(session);
    const request = grpcFrame(RawScanRequest.encode({ context: undefined, startKey: Buffer.alloc(0), limit: 10_000, cf: 'default' }).finish());
    const calls = 200;
    const codes: string[] = [];
    const onStatus = (headers: IncomingHttpHeaders) => {
      if (headers['grpc-status'] !== undefined) codes.push(`${String(headers['grpc-status'])} ${String(headers['tinykv-error-code'] ?? '')}`.trim());
    };
    for (let i = 0; i < calls; i++) {
      const stream = session.request({ ':method': 'POST', ':path': '/tinykvpb.TinyKv/RawScan', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => {});
      stream.on('response', onStatus);
      stream.on('trailers', onStatus); // a refused call's status follows its headers (no data)
      stream.end(request); // never read: flow control keeps the answer in the server
    }

    // Without the quota every call's 1.3 MB answer stays in the server (~260 MB); with a 32 MiB
    // quota about two dozen are held and the rest are refused.
    const deadline = Date.now() + 30_000;
    while (codes.length < calls - 40 && Date.now() < deadline) await sleep(100);
    let peakMiB = rssMiB(server.child.pid!);
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      peakMiB = Math.max(peakMiB, rssMiB(server.child.pid!));
    }
    console.log(`slow client: ${codes.length} of ${calls} refused; server RSS idle ${idleMiB.toFixed(0)} MiB, peak ${peakMiB.toFixed(0)} MiB`);
    expect(codes.length).toBeGreaterThanOrEqual(calls - 40);
    expect(new Set(codes)).toEqual(new Set(['8 KV:Server:MemoryQuotaExceeded']));
    expect(peakMiB - idleMiB).toBeLessThan(150);

    // Another client is still answered promptly (a small answer may use the quota's reserve).
    const started = Date.now();
    const got = await unary<{ value: Buffer; notFound: boolean }>((cb) =>
      client.rawGet({ context: undefined, key: Buffer.from('key-0001'), cf: 'default' }, cb),
    );
    expect(got.value.length).toBe(10 * 1024);
    expect(Date.now() - started).toBeLessThan(2_000);

    // Once the slow client goes away its memory is released and large answers flow again.
    session.destroy();
    await sleep(500);
    const scan = await unary<{ kvs: unknown[] }>((cb) =>
      client.rawScan({ context: undefined, startKey: Buffer.alloc(0), limit: 10_000, cf: 'default' }, cb),
    );
    expect(scan.kvs.length).toBe(130);
  });

  it('one connection may open at most server.max-concurrent-streams calls at once', async () => {
    const server = await start(['--max-concurrent-streams', '16']);
    const session = connect(`http://${server.addr}`);
    session.on('error', () => {});
    sessions.push(session);
    const [settings] = (await once(session, 'remoteSettings')) as [{ maxConcurrentStreams?: number }];
    expect(settings.maxConcurrentStreams).toBe(16);
  });
});
