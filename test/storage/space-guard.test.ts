// The space guard on its own (no tmpfs needed): a reserve larger than the free space refuses
// writes that add data with KV:Storage:NoSpace, lets deletes and reads through, and 0 turns it off.
import { statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { SpaceGuard, DEFAULT_RESERVE_MAX_FRACTION, DEFAULT_RESERVE_SPACE_BYTES } from '../../src/storage/space-guard.js';
import { guardSpace, SpaceGuardedStorage } from '../../src/storage/space-guarded-storage.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';
import { ErrorCode, TinyKvError } from '../../src/util/errors.js';
import { grpcStatusOf } from '../../src/rpc/error-status.js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const guards: SpaceGuard[] = [];
afterEach(() => {
  for (const guard of guards.splice(0)) guard.stop();
  for (const dir of dirs.splice(0)) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

const put = (key: string, value: string) => ({ type: 'put', cf: 'default', key: Buffer.from(key), value: Buffer.from(value) }) as const;
const del = (key: string) => ({ type: 'delete', cf: 'default', key: Buffer.from(key) }) as const;

describe('the space guard', () => {
  it('refuses writes that add data below the reserve with NoSpace (RESOURCE_EXHAUSTED), and passes deletes and reads', async () => {
    const path = newDir();
    const engine = new MemoryEngine();
    const inner = new StandaloneStorage(engine);
    await inner.write(undefined, [put('kept', 'v')]);
    // More reserved than the filesystem has free: the disk counts as full.
    const guard = new SpaceGuard({ path, reserveSpaceBytes: freeBytes(path) + 1024 ** 3 });
    guards.push(guard);
    const storage = new SpaceGuardedStorage(inner, guard);

    const refused = await storage.write(undefined, [put('k', 'v')]).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TinyKvError);
    expect((refused as TinyKvError).code).toBe(ErrorCode.NoSpace);
    expect(grpcStatusOf(refused)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect((refused as TinyKvError).message).toMatch(/reserve-space/);
    expect(engine.get('default', Buffer.from('k'))).toBeUndefined();

    await storage.write(undefined, [del('kept')]);
    expect(engine.get('default', Buffer.from('kept'))).toBeUndefined();
    const reader = await storage.reader(undefined);
    expect(reader.getCF('default', Buffer.from('kept'))).toBeUndefined();
    reader.close();
  });

  it('accepts writes while free space stays above the reserve', async () => {
    const path = newDir();
    const guard = new SpaceGuard({ path, reserveSpaceBytes: 1 });
    guards.push(guard);
    const storage = new SpaceGuardedStorage(new StandaloneStorage(new MemoryEngine()), guard);
    await storage.write(undefined, [put('k', 'v')]);
  });

  it('after a commit failed for lack of space, refuses writes until statfs shows room again', async () => {
    const path = newDir();
    const guard = new SpaceGuard({ path, reserveSpaceBytes: Math.max(1, freeBytes(path) - 4 * 1024 * 1024), refreshIntervalMs: 50 });
    guards.push(guard);
    expect(() => guard.checkWrite(1024)).not.toThrow();
    guard.noteNoSpace();
    expect(() => guard.checkWrite(1024)).toThrow(/reserve-space/);
    // The refresh noteNoSpace started reads statfs again: there was room all along.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        guard.checkWrite(1024);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });

  it('defaults to 1GiB, at most 5% of the filesystem; 0 turns it off', () => {
    const path = newDir();
    const stats = statfsSync(path);
    const guard = new SpaceGuard({ path, reserveSpaceBytes: undefined });
    guards.push(guard);
    expect(guard.reserveBytes).toBe(Math.min(DEFAULT_RESERVE_SPACE_BYTES, Math.floor(stats.blocks * stats.bsize * DEFAULT_RESERVE_MAX_FRACTION)));
    const off = new SpaceGuard({ path, reserveSpaceBytes: 0 });
    guards.push(off);
    expect(off.enabled).toBe(false);
    expect(() => off.checkWrite(Number.MAX_SAFE_INTEGER / 4)).not.toThrow();
    const storage = new StandaloneStorage(new MemoryEngine());
    expect(guardSpace(storage, { engine: 'lmdb', dataDir: path, reserveSpaceBytes: 0 })).toBe(storage);
    expect(guardSpace(storage, { engine: 'memory', dataDir: path, reserveSpaceBytes: 1 })).toBe(storage);
  });

  it('reads storage.reserve-space from the config file', () => {
    const path = newDir();
    const file = join(path, 'tinykv.toml');
    writeFileSync(file, '[storage]\nreserve-space = "512MiB"\n');
    expect(loadConfig({ configFile: file }).reserveSpaceBytes).toBe(512 * 1024 * 1024);
    expect(loadConfig({}).reserveSpaceBytes).toBeUndefined();
    writeFileSync(file, '[storage]\nreserve-space = "lots"\n');
    expect(() => loadConfig({ configFile: file })).toThrow(/storage.reserve-space/);
  });
});
