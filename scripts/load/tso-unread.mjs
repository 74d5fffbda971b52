// Load: one Tso stream sends requests and never reads the answers. Reports the server's RSS.
//   npm run build && node scripts/load/tso-unread.mjs [requests=2000000] [server|scheduler]
// A raw HTTP/2 client writes gRPC-framed TsoRequests as fast as the server takes them and never
// reads its stream. Without a bound the server reads every request and buffers every answer;
// with one it stops reading, the client's writes stop draining, and the server's RSS stays flat.
import http2 from 'node:http2';
import { credentials } from '@grpc/grpc-js';
import { SchedulerClient, TsoRequest } from '../../dist/src/proto/schedulerpb.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rssMiB, sleep, startServer } from './common.mjs';

const total = Number(process.argv[2] ?? 2_000_000);
const target = process.argv[3] ?? 'server';
const dataDir = mkdtempSync(join(tmpdir(), 'tso-unread-'));
const { child, addr } =
  target === 'scheduler'
    ? await startServer(['--addr', '127.0.0.1:0', '--data-dir', dataDir], 'scheduler')
    : await startServer(['--engine', 'memory', '--addr', '127.0.0.1:0', '--log-level', 'warn']);

function frame(message) {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

try {
  await sleep(1000);
  const idle = rssMiB(child.pid);
  console.log(`server idle RSS ${idle} MiB`);
  const client = new SchedulerClient(addr, credentials.createInsecure());
  const members = await new Promise((res, rej) => client.getMembers({}, (e, r) => (e ? rej(e) : res(r))));
  const clusterId = members.header.clusterId;

  const session = http2.connect(`http://${addr}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': '/schedulerpb.Scheduler/Tso', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  // Never read: the stream stays paused, so its HTTP/2 window is never reopened.
  const one = frame(TsoRequest.encode({ header: { clusterId }, count: 1 }).finish());
  const perChunk = 10_000;
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => one));
  let sent = 0;
  let stalled = false;
  let peak = idle;
  const started = Date.now();
  while (sent < total) {
    const n = Math.min(perChunk, total - sent);
    const ok = stream.write(n === perChunk ? chunk : chunk.subarray(0, n * one.length));
    sent += n;
    peak = Math.max(peak, rssMiB(child.pid));
    if (!ok) {
      const drained = await Promise.race([new Promise((r) => stream.once('drain', () => r(true))), sleep(10_000).then(() => false)]);
      if (!drained) {
        stalled = true;
        break;
      }
    }
  }
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    peak = Math.max(peak, rssMiB(child.pid));
  }
  console.log(
    `wrote ${sent} of ${total} requests in ${Date.now() - started} ms` +
      (stalled ? ' (then the server stopped reading: writes no longer drain)' : '') +
      `; server RSS idle ${idle} MiB, peak ${peak} MiB, growth ${peak - idle} MiB`,
  );
  // Another client still gets a timestamp.
  const t0 = Date.now();
  await new Promise((res, rej) => {
    const s = client.tso();
    s.on('data', () => {
      s.end();
      res();
    });
    s.on('error', rej);
    s.write({ header: { clusterId }, count: 1 });
  });
  console.log(`another client's Tso answered in ${Date.now() - t0} ms`);
  stream.close();
  session.destroy();
  client.close();
} finally {
  child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}
