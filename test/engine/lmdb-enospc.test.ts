// LmdbEngine in-process on a small tmpfs that fills up under many concurrent writers. Every write
// is either acknowledged or refused with KV:Storage:NoSpace, none hangs, and no promise lmdb-js
// rejects on a failed commit is left unhandled (in `tinykv server` that would be a fail-stop
// exit 70, the standalone full-disk crash issue #9 forbids). Needs root to mount the tmpfs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import type { WriteOp } from '../../src/engine/engine.js';
import { TinyKvError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('lmdb ENOSPC tests skipped: mounting a tmpfs needs root');

const WRITERS = 50;
const base = tempDir('tinykv-lmdb-enospc-');
let mountCount = 0;
let mountPoint = '';
let unhandled: unknown[] = [];
const record = (reason: unknown): void => {
  unhandled.push(reason);
};

function mountTmpfs(size: string): string {
  mountPoint = join(base.path, `mnt-${++mountCount}`);
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
  return mountPoint;
}

function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', record);
  // lmdb-js prints each failed commit with console.error; expected here.
  vi.spyOn(console, 'error').mockImplementation(() => {});
});

afterEach(() => {
  process.off('unhandledRejection', record);
  vi.restoreAllMocks();
  // Lazy: after failed commits the engine gives up on lmdb-js's close (see closeBounded), so the
  // environment may still hold the mount.
  if (mountPoint) execFileSync('umount', ['-l', mountPoint]);
  mountPoint = '';
});

afterAll(() => base.cleanup());

/**
 * lmdb-js's close waits for the failed sessions' flush, which never comes; the engine bounds that
 * wait itself (a node that hit a full disk must still stop on SIGTERM), and this checks it does.
 */
async function closeBounded(engine: LmdbEngine): Promise<void> {
  const outcome = await Promise.race([
    engine.close().then(
      () => 'closed',
      () => 'closed',
    ),
    new Promise((resolve) => setTimeout(() => resolve('hung'), 10_000)),
  ]);
  expect(outcome).toBe('closed');
}

/** Runs the writers and returns how each write ended; writes still pending after `deadlineMs` count as 'hung'. */
async function runWriters(writer: (w: number, done: (outcome: string) => void) => Promise<void>, deadlineMs: number): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  const done = (outcome: string): void => {
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  };
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w, done)));
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
  await Promise.race([all, deadline]);
  clearTimeout(timer);
  // Unhandled rejections are reported after the microtask queue drains; give them turns.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return outcomes;
}

/** One write, with its outcome counted: 'acked', the TinyKvError code, or 'other: ...'. */
async function writeCounted(engine: LmdbEngine, op: WriteOp, done: (outcome: string) => void, pending: Set<WriteOp>): Promise<void> {
  pending.add(op);
  try {
    await engine.write([op]);
    done('acked');
  } catch (err) {
    done(err instanceof TinyKvError ? err.code : `other: ${String(err)}`);
  } finally {
    pending.delete(op);
  }
}

/**
 * Takes all but `leaveBytes` of the mount's free space with one file. LMDB's write thread runs
 * beside this one, so the space can shrink between the measurement and the write: a filler that
 * hits ENOSPC has still done its job (the disk is full), so that error is not the test's failure.
 */
function fillLeaving(filler: string, mount: string, leaveBytes: number): void {
  try {
    writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(mount) - leaveBytes)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

describe.skipIf(!isRoot)('LmdbEngine on a full disk', () => {
  it('answers every one of many concurrent writes with an ack or NoSpace and leaves no rejection unhandled', async () => {
    const writesPerWriter = 60;
    const engine = new LmdbEngine({ path: join(mountTmpfs('4m'), 'db') });
    const pending = new Set<WriteOp>();
    try {
      // Writers fall out of step (some wait a turn after a write), so event-turn batches keep
      // starting while earlier ones fail: lmdb-js's current commit promise is then no longer the
      // failed batch's by the time a caller's catch runs.
      const outcomes = await runWriters(async (w, done) => {
        for (let i = 0; i < writesPerWriter; i++) {
          const key = Buffer.from(`k-${w}-${i % 8}`);
          const op: WriteOp =
            (i + w) % 4 === 3
              ? { type: 'delete', cf: 'default', key }
              : { type: 'put', cf: 'default', key, value: Buffer.alloc((((w * 7 + i * 13) % 5) * 8 + 1) * 1024, w) };
          await writeCounted(engine, op, done, pending);
          if ((w + i) % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }, 30_000);

      expect(unhandled.map(String)).toEqual([]);
      expect(pending.size).toBe(0);
      expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(WRITERS * writesPerWriter);
      expect([...outcomes.keys()].sort()).toEqual(['KV:Storage:NoSpace', 'acked']);
    } finally {
      await closeBounded(engine);
    }
  }, 60_000);

  it('settles every durable write while free space comes and goes (no write waits forever for a flush)', async () => {
    const writesPerWriter = 80;
    const mount = mountTmpfs('8m');
    const engine = new LmdbEngine({ path: join(mount, 'db') });
    const filler = join(mount, 'filler');
    let seed = 12345;
    const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    fillLeaving(filler, mount, 1024 * 1024);
    let stop = false;
    // Space is freed and taken again every 20 ms, so commits that succeed and commits that fail
    // share lmdb-js write sessions.
    const squeeze = (async () => {
      while (!stop) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        rmSync(filler, { force: true });
        fillLeaving(filler, mount, (random() < 0.5 ? 256 : 2048) * 1024);
      }
    })();
    const pending = new Set<WriteOp>();
    try {
      const outcomes = await runWriters(async (w, done) => {
        for (let i = 0; i < writesPerWriter; i++) {
          const op: WriteOp = {
            type: 'put',
            cf: 'default',
            key: Buffer.from(`k-${w}-${i % 4}`),
            value: Buffer.alloc(Math.floor(random() * 32 * 1024) + 10, w),
          };
          const written = writeCounted(engine, op, done, pending);
          if (random() < 0.5) await written;
          else await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
        }
      }, 40_000);
      // Writes issued without waiting may still be settling; each gets the same bound.
      const settleBy = Date.now() + 10_000;
      while (pending.size > 0 && Date.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 50));

      expect(pending.size, 'writes neither acknowledged nor refused').toBe(0);
      expect(unhandled.map(String)).toEqual([]);
      expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(WRITERS * writesPerWriter);
      expect([...outcomes.keys()].every((outcome) => outcome === 'acked' || outcome === 'KV:Storage:NoSpace')).toBe(true);
      expect(outcomes.get('KV:Storage:NoSpace') ?? 0).toBeGreaterThan(0);
    } finally {
      stop = true;
      await squeeze;
      await closeBounded(engine);
    }
  }, 90_000);
});
