// Load: many RawScan calls on one HTTP/2 connection whose responses are never read.
//   npm run build && node scripts/load/rawscan-unread.mjs [calls=1000] [server flags...]
//   VALUES=400 makes every answer ~4 MB (the default limits.max-scan-response-size) instead of ~1.3 MB.
// HTTP/2 flow control keeps every unread response in the server. Without a bound its RSS grows by
// calls x response size; with the quota (server.grpc-memory-quota) and the stream limit
// (server.max-concurrent-streams) it stays near idle + quota, and other clients keep being answered.
import http2 from 'node:http2';
import { credentials } from '@grpc/grpc-js';
import { TinyKvClient } from '../../dist/src/proto/tinykvpb.js';
import { RawScanRequest } from '../../dist/src/proto/kvrpcpb.js';
import { rssMiB, sleep, startServer } from './common.mjs';

const calls = Number(process.argv[2] ?? 1000);
const extraFlags = process.argv.slice(3);
const { child, addr } = await startServer(['--engine', 'memory', '--addr', '127.0.0.1:0', '--log-level', 'warn', ...extraFlags]);

const unary = (fn) => new Promise((res, rej) => fn((e, r) => (e ? rej(e instanceof Error ? e : new Error(String(e))) : res(r))));

try {
  const client = new TinyKvClient(addr, credentials.createInsecure());
  // 130 values of 10 KiB: each scan answers about 1.3 MB.
  const values = Number(process.env.VALUES ?? 130);
  const value = Buffer.alloc(10 * 1024, 7);
  for (let i = 0; i < values; i++) {
    const key = Buffer.from(`key-${String(i).padStart(4, '0')}`);
    await unary((cb) => client.rawPut({ key, value, cf: 'default' }, cb));
  }
  await sleep(1000);
  const idle = rssMiB(child.pid);
  console.log(`server idle RSS ${idle} MiB (data loaded)`);

  const session = http2.connect(`http://${addr}`);
  session.on('error', () => {});
  const body = RawScanRequest.encode({ startKey: Buffer.alloc(0), limit: 10_000, cf: 'default' }).finish();
  const framed = Buffer.alloc(5 + body.length);
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  const outcome = { refused: 0, otherStatus: 0, streamErrors: 0 };
  const codes = new Map();
  for (let i = 0; i < calls; i++) {
    const stream = session.request({ ':method': 'POST', ':path': '/tinykvpb.TinyKv/RawScan', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => outcome.streamErrors++);
    // A refused call gets its status right after the headers (no data), so its trailers arrive.
    const onStatus = (headers) => {
      const status = headers['grpc-status'];
      if (status === undefined) outcome.answering++;
      else if (status === '8') outcome.refused++;
      else outcome.otherStatus++;
      const code = headers['tinykv-error-code'];
      if (code) codes.set(code, (codes.get(code) ?? 0) + 1);
    };
    stream.on('response', (headers) => headers['grpc-status'] !== undefined && onStatus(headers));
    stream.on('trailers', onStatus);
    stream.end(framed); // never read: the stream stays paused
  }
  let peak = idle;
  for (let i = 0; i < 15; i++) {
    await sleep(1000);
    peak = Math.max(peak, rssMiB(child.pid));
  }
  console.log(
    `${calls} unread RawScans: ${outcome.refused} RESOURCE_EXHAUSTED, ` +
      `${outcome.otherStatus} other status, ${outcome.streamErrors} stream errors; codes ${JSON.stringify([...codes])}`,
  );
  console.log(`server RSS idle ${idle} MiB, peak ${peak} MiB, growth ${peak - idle} MiB`);
  const t0 = Date.now();
  await unary((cb) => client.rawGet({ key: Buffer.from('key-0001'), cf: 'default' }, cb));
  console.log(`another client's RawGet (10 KiB) answered in ${Date.now() - t0} ms`);
  session.destroy();
  client.close();
} finally {
  child.kill('SIGKILL');
}
