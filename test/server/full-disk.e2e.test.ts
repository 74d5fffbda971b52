// End to end: `tinykv server` on a small tmpfs that fills up. Standalone: a write that cannot be
// made durable is refused with KV:Storage:NoSpace (never acknowledged), reads keep working, the
// process stays up, and writes work again once space is freed. Cluster store: a raft log that
// cannot be written stops the process (fail-stop) with a fatal line and a non-zero exit, so a
// supervisor restarts it. Needs root to mount the tmpfs.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, ClientError, type TinyKvClient } from '../../src/client/index.js';
import { startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('full-disk e2e tests skipped: mounting a tmpfs needs root');

const TMPFS_SIZE = '8m';
const VALUE = Buffer.alloc(64 * 1024, 7);
const base = tempDir('tinykv-full-disk-');
const mountPoint = join(base.path, 'mnt');
const servers: ServerProcess[] = [];
const clients: TinyKvClient[] = [];
const schedulers: ChildProcess[] = [];

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mountPoint]);
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const server of servers.splice(0)) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
});

afterAll(() => {
  for (const child of schedulers) child.kill('SIGKILL');
  if (isRoot) execFileSync('umount', [mountPoint]);
  base.cleanup();
});

function freeBytes(): number {
  const stats = statfsSync(mountPoint);
  return stats.bavail * stats.bsize;
}

/** Fills the tmpfs with a file of its own, leaving about `leaveBytes` free. */
function fillLeaving(leaveBytes: number): string {
  const path = join(mountPoint, 'filler');
  writeFileSync(path, Buffer.alloc(Math.max(0, freeBytes() - leaveBytes)));
  return path;
}

async function start(dataDir: string, reserveSpace: string): Promise<{ server: ServerProcess; client: TinyKvClient }> {
  const server = await startServerProcess([
    '--standalone',
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    dataDir,
    '--reserve-space',
    reserveSpace,
    '--log-level',
    'warn',
  ]);
  servers.push(server);
  const client = await connect({ node: server.addr, requestTimeoutMs: 10_000, maxRetries: 0 });
  clients.push(client);
  return { server, client };
}

/** Puts 64KiB values until one is refused; returns the keys acknowledged and the refusal. */
async function putUntilRefused(client: TinyKvClient, prefix: string, maxPuts = 200): Promise<{ acked: string[]; error: ClientError }> {
  const acked: string[] = [];
  for (let i = 0; i < maxPuts; i++) {
    const key = `${prefix}-${String(i).padStart(4, '0')}`;
    try {
      await client.put(key, VALUE);
      acked.push(key);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      return { acked, error: err };
    }
  }
  throw new Error(`${maxPuts} puts of 64KiB were all acknowledged on a ${TMPFS_SIZE} tmpfs`);
}

async function eventually(what: string, attempt: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** A one-store scheduler with its data off the tmpfs (only the store's disk fills up). */
async function startScheduler(name: string): Promise<string> {
  return (await startSchedulerProcess(join(base.path, name), 1, (child) => schedulers.push(child))).addr;
}

describe.skipIf(!isRoot)('standalone node on a full disk', () => {
  it('refuses a write the full disk cannot take with NoSpace, keeps reading and serving, and writes again once space is freed', async () => {
    const dataDir = join(mountPoint, 'no-guard');
    const { server, client } = await start(dataDir, '0');
    await client.put('before', 'full');
    const filler = fillLeaving(1024 * 1024);

    const { acked, error } = await putUntilRefused(client, 'fill');
    expect(error.serverCode).toBe('KV:Storage:NoSpace');
    expect(error.grpcStatus).toBe(8); // RESOURCE_EXHAUSTED
    expect(error.message).toMatch(/no space left/);

    // Alive and reading: every acknowledged write is there.
    expect(server.child.exitCode).toBeNull();
    expect((await client.get('before'))?.toString()).toBe('full');
    for (const key of acked) expect((await client.get(key))?.length).toBe(VALUE.length);
    expect((await client.scan('fill', undefined, 1000)).length).toBe(acked.length);

    rmSync(filler);
    await client.put('after', 'freed');
    await client.put('after-big', VALUE);
    expect((await client.get('after'))?.toString()).toBe('freed');
    expect(server.child.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/unhandled|"level":60/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 50 concurrent writers on a filling disk with acks or NoSpace only, and stays up (no unhandled rejection, no exit 70)', async () => {
    const dataDir = join(mountPoint, 'concurrent');
    const { server, client } = await start(dataDir, '0');
    await client.put('before', 'concurrent');
    const filler = fillLeaving(1024 * 1024);
    const outcomes = new Map<string, number>();
    const count = (outcome: string): void => {
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    };
    const writers = 50;
    const putsPerWriter = 20;
    // Writers fall out of step, so lmdb-js batches keep starting while earlier ones fail.
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < putsPerWriter; i++) {
          try {
            await client.put(`c-${w}-${i % 5}`, Buffer.alloc((((w * 7 + i * 13) % 4) + 1) * 12 * 1024, w));
            count('acked');
          } catch (err) {
            count(err instanceof ClientError ? (err.serverCode ?? err.code) : `other: ${String(err)}`);
          }
          if ((w + i) % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(writers * putsPerWriter);
    expect(
      [...outcomes.keys()].every((outcome) => outcome === 'acked' || outcome === 'KV:Storage:NoSpace'),
      [...outcomes.keys()].join(', '),
    ).toBe(true);
    expect(outcomes.get('KV:Storage:NoSpace') ?? 0).toBeGreaterThan(0);
    // The process survived the failed commits and still serves.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.child.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/unhandled|"level":60/);
    expect((await client.get('before'))?.toString()).toBe('concurrent');
    rmSync(filler);
    await eventually('a write once space is freed', () => client.put('after', 'freed'));
    expect(server.child.exitCode).toBeNull();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('refuses writes below storage.reserve-space before the disk is full, still serves reads and deletes, and resumes once space is freed', async () => {
    const dataDir = join(mountPoint, 'guard');
    const reserveBytes = 2 * 1024 * 1024;
    const { server, client } = await start(dataDir, '2MiB');
    await client.put('before', 'reserve');
    const filler = fillLeaving(reserveBytes + 1024 * 1024);
    // Free space is sampled about once a second, not per write: let the guard see the filler.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const { acked, error } = await putUntilRefused(client, 'fill');
    expect(error.serverCode).toBe('KV:Storage:NoSpace');
    expect(error.grpcStatus).toBe(8);
    expect(error.message).toMatch(/reserve-space/);
    // Refused by the guard, not by a failed commit: the disk still has room.
    expect(freeBytes()).toBeGreaterThan(reserveBytes / 2);

    expect((await client.get('before'))?.toString()).toBe('reserve');
    for (const key of acked) expect((await client.get(key))?.length).toBe(VALUE.length);
    // Deletes are how space is given back: never refused.
    if (acked.length > 0) {
      await client.delete(defined(acked[0], 'acked[0]'));
      expect(await client.get(defined(acked[0], 'acked[0]'))).toBeUndefined();
    }
    expect(server.child.exitCode).toBeNull();

    rmSync(filler);
    // The guard sees the freed space at its next refresh (about a second).
    await eventually('write after freeing space', () => client.put('after', 'freed'));
    expect((await client.get('after'))?.toString()).toBe('freed');
    expect(server.child.exitCode).toBeNull();
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe.skipIf(!isRoot)('cluster store on a full disk', () => {
  it('refuses proposals that add data below storage.reserve-space with NoSpace, still serves reads and deletes, and resumes once space is freed', async () => {
    const scheduler = await startScheduler('scheduler-guard');
    const dataDir = join(mountPoint, 'store-guard');
    const reserveBytes = 2 * 1024 * 1024;
    const server = await startServerProcess([
      '--scheduler',
      scheduler,
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--reserve-space',
      '2MiB',
      '--raft-base-tick-ms',
      '20',
      '--log-level',
      'warn',
    ]);
    servers.push(server);
    const client = await connect({ node: server.addr, requestTimeoutMs: 5_000, maxRetries: 0 });
    clients.push(client);
    await eventually('first write through raft', () => client.put('before', 'reserve'), 30_000);
    const filler = fillLeaving(reserveBytes + 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const { acked, error } = await putUntilRefused(client, 'fill');
    expect(error.serverCode).toBe('KV:Storage:NoSpace');
    expect(error.grpcStatus).toBe(8);
    expect(freeBytes()).toBeGreaterThan(reserveBytes / 2);
    expect((await client.get('before'))?.toString()).toBe('reserve');
    for (const key of acked) expect((await client.get(key))?.length).toBe(VALUE.length);
    if (acked.length > 0) await client.delete(defined(acked[0], 'acked[0]'));
    expect(server.child.exitCode).toBeNull();

    rmSync(filler);
    await eventually('write after freeing space', () => client.put('after', 'freed'));
    expect((await client.get('after'))?.toString()).toBe('freed');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  // With raft pollers the failure is on a poller thread; with --raft-pollers 0 on the main thread.
  it.each(['1', '0'])(
    'fail-stops with a fatal line and a non-zero exit when its raft log cannot be written (raft pollers: %s), and a restart recovers',
    async (pollers) => {
      const scheduler = await startScheduler(`scheduler-fail-stop-${pollers}`);
      const dataDir = join(mountPoint, `store-${pollers}`);
      const server = await startServerProcess([
        '--scheduler',
        scheduler,
        '--addr',
        '127.0.0.1:0',
        '--data-dir',
        dataDir,
        '--reserve-space',
        '0',
        '--raft-pollers',
        pollers,
        '--raft-base-tick-ms',
        '20',
        '--log-level',
        'warn',
      ]);
      servers.push(server);
      const client = await connect({ node: server.addr, requestTimeoutMs: 5_000, maxRetries: 0 });
      clients.push(client);
      // The store's one region needs a leader before writes are taken.
      await eventually('first write through raft', () => client.put('before', 'full'), 30_000);
      const filler = fillLeaving(1024 * 1024);

      const acked: string[] = [];
      let refusals = 0;
      const exitedAt = server.exited.then((code) => ({ code, atMs: Date.now() }));
      let running = true;
      void exitedAt.then(() => (running = false));
      const putsDeadline = Date.now() + 20_000;
      for (let i = 0; running && i < 300 && Date.now() < putsDeadline; i++) {
        try {
          await client.put(`fill-${i}`, VALUE);
          acked.push(`fill-${i}`);
        } catch {
          refusals++;
        }
      }
      const exit = await Promise.race([
        exitedAt,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`store still running; stderr: ${server.stderr()}`)), 20_000)),
      ]);
      expect(exit.code).toBe(70);
      const fatal = server
        .stderr()
        .split('\n')
        .find((line) => line.includes('"level":60'));
      expect(fatal, server.stderr()).toBeDefined();
      expect(fatal).toMatch(/fatal: .*(raft|apply)/);
      console.log(`store exited ${exit.code} after ${acked.length} acknowledged puts and ${refusals} refusals: ${fatal}`);

      // A supervisor restarts it once space is freed: Raft recovers, every acknowledged write is there.
      rmSync(filler);
      const restarted = await startServerProcess([
        '--scheduler',
        scheduler,
        '--addr',
        '127.0.0.1:0',
        '--data-dir',
        dataDir,
        '--reserve-space',
        '0',
        '--raft-pollers',
        pollers,
        '--raft-base-tick-ms',
        '20',
        '--log-level',
        'warn',
      ]);
      servers.push(restarted);
      const again = await connect({ node: restarted.addr, requestTimeoutMs: 5_000, maxRetries: 0 });
      clients.push(again);
      await eventually('write after restart', () => again.put('after', 'restart'), 30_000);
      expect((await again.get('before'))?.toString()).toBe('full');
      for (const key of acked) expect((await again.get(key))?.length).toBe(VALUE.length);
      restarted.child.kill('SIGTERM');
      expect(await restarted.exited).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    },
  );
});
