// LmdbEngine in-process on a small tmpfs that fills up under many concurrent writers. Every write
// is either acknowledged or refused with KV:Storage:NoSpace, and no promise lmdb-js rejects on a
// failed commit is left unhandled (in `tinykv server` that would be a fail-stop exit 70, the
// standalone full-disk crash issue #9 forbids). Needs root to mount the tmpfs.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import type { WriteOp } from '../../src/engine/engine.js';
import { TinyKvError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('lmdb ENOSPC tests skipped: mounting a tmpfs needs root');

const WRITERS = 50;
const WRITES_PER_WRITER = 60;
const base = tempDir('tinykv-lmdb-enospc-');
const mountPoint = join(base.path, 'mnt');

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
});

afterAll(() => {
  // Lazy: lmdb-js's close never settles after failed commits (see the test), so the
  // environment may still hold the mount.
  if (isRoot) execFileSync('umount', ['-l', mountPoint]);
  base.cleanup();
});

describe.skipIf(!isRoot)('LmdbEngine on a full disk', () => {
  it('answers every one of many concurrent writes with an ack or NoSpace and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', record);
    // lmdb-js prints each failed commit with console.error; expected here.
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const engine = new LmdbEngine({ path: join(mountPoint, 'db') });
    const outcomes = new Map<string, number>();
    const count = (outcome: string): void => {
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    };
    try {
      // Writers fall out of step (some wait a turn after a write), so event-turn batches keep
      // starting while earlier ones fail: the case where lmdb-js's current commit promise is no
      // longer the failed batch's by the time a caller's catch runs.
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; i < WRITES_PER_WRITER; i++) {
          const key = Buffer.from(`k-${w}-${i % 8}`);
          const op: WriteOp =
            (i + w) % 4 === 3
              ? { type: 'delete', cf: 'default', key }
              : { type: 'put', cf: 'default', key, value: Buffer.alloc((((w * 7 + i * 13) % 5) * 8 + 1) * 1024, w) };
          try {
            await engine.write([op]);
            count('acked');
          } catch (err) {
            count(err instanceof TinyKvError ? err.code : `other: ${String(err)}`);
          }
          if ((w + i) % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      // Unhandled rejections are reported after the microtask queue drains; give them turns.
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(unhandled.map(String)).toEqual([]);
      const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
      expect(total).toBe(WRITERS * WRITES_PER_WRITER);
      expect([...outcomes.keys()].sort()).toEqual(['KV:Storage:NoSpace', 'acked']);
    } finally {
      process.off('unhandledRejection', record);
      consoleError.mockRestore();
      // lmdb-js's close waits for the failed batches' flush, which never comes: bounded here.
      await Promise.race([engine.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    }
  }, 60_000);
});
