import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import pino from 'pino';
import type { Engine } from '../../src/engine/engine.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { ManualClock } from '../../src/env/clock.js';
import { StoreState } from '../../src/proto/metapb.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { SchedulerCore, type SchedulerCoreOptions } from '../../src/scheduler/core.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { key, peer, region, store } from './helpers.js';

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

function stats(storeId: number): StoreStats {
  return StoreStats.fromPartial({ storeId: BigInt(storeId), capacity: 100n, available: 50n });
}

/** A logger whose lines (parsed) land in `lines`. */
function capturingLogger(): { logger: pino.Logger; lines: Array<{ msg: string; storeId?: number }> } {
  const lines: Array<{ msg: string; storeId?: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string; storeId?: number }) });
  return { logger, lines };
}

/** Stores 1..3 registered; one region [a, b) with a peer on stores 1 and 2, led from store 1. */
async function threeStores(options: SchedulerCoreOptions = {}, engine: Engine = new MemoryEngine()): Promise<SchedulerCore> {
  const core = await SchedulerCore.open(engine, { initialStores: 0, ...options });
  await core.bootstrap(store(1));
  await core.putStore(store(2));
  await core.putStore(store(3));
  const r = region(5, 'a', 'b', { confVer: 1, version: 1 }, [
    [6, 1],
    [7, 2],
  ]);
  await core.regionHeartbeat({ region: r, leader: peer(6, 1) });
  return core;
}

describe('store lifecycle: Up -> Offline -> Tombstone', () => {
  it('deletes an Up store to Offline, idempotently; refuses unknown ids', async () => {
    const core = await threeStores();
    await core.deleteStore(3);
    expect(core.getStore(3).store.state).toBe(StoreState.Offline);
    await core.deleteStore(3);
    expect(core.getStore(3).store.state).toBe(StoreState.Offline);
    expect(await rejectionCode(core.deleteStore(99))).toBe(SchedulerErrorCode.StoreNotFound);
    // An offline store still reports: it keeps serving until its replicas have moved.
    core.storeHeartbeat(stats(3));
    await core.putStore(store(3));
    expect(core.getStore(3).store.state).toBe(StoreState.Offline);
  });

  it('tombstones only an Offline store that holds no region peers', async () => {
    const core = await threeStores();
    expect(await rejectionCode(core.tombstoneStore(3))).toBe(SchedulerErrorCode.StoreNotDrained);
    await core.deleteStore(2);
    expect(await rejectionCode(core.tombstoneStore(2))).toBe(SchedulerErrorCode.StoreNotDrained);
    // The region drops its peer on store 2 (a conf change), then store 2 may go.
    const shrunk = region(5, 'a', 'b', { confVer: 2, version: 1 }, [[6, 1]]);
    await core.regionHeartbeat({ region: shrunk, leader: peer(6, 1) });
    await core.tombstoneStore(2);
    expect(core.getStore(2).store.state).toBe(StoreState.Tombstone);
    await core.tombstoneStore(2);
    expect(await rejectionCode(core.tombstoneStore(99))).toBe(SchedulerErrorCode.StoreNotFound);
    expect(await rejectionCode(core.deleteStore(2))).toBe(SchedulerErrorCode.StoreTombstone);
  });

  it('refuses a tombstone everywhere it speaks, keeps reporting it, and frees its address for a new id', async () => {
    const core = await threeStores();
    await core.deleteStore(3);
    await core.tombstoneStore(3);
    expect(thrownCode(() => core.storeHeartbeat(stats(3)))).toBe(SchedulerErrorCode.StoreTombstone);
    expect(await rejectionCode(core.putStore(store(3)))).toBe(SchedulerErrorCode.StoreTombstone);
    const onTombstone = region(20, 'x', 'y', { confVer: 1, version: 1 }, [
      [21, 1],
      [22, 3],
    ]);
    expect(await rejectionCode(core.regionHeartbeat({ region: onTombstone, leader: peer(21, 1) }))).toBe(SchedulerErrorCode.StoreTombstone);
    expect(core.getStore(3).store.state).toBe(StoreState.Tombstone);
    expect(core.getAllStores(false).map((s) => s.store.id)).toEqual([1, 2, 3]);
    expect(core.getAllStores(true).map((s) => s.store.id)).toEqual([1, 2]);
    // A wiped store at the same address registers under a new id.
    await core.putStore(store(4, store(3).address));
    expect(core.getStore(4).store).toEqual(store(4, store(3).address));
    // While a store is only Offline its address is still taken.
    await core.deleteStore(2);
    expect(await rejectionCode(core.putStore(store(5, store(2).address)))).toBe(SchedulerErrorCode.DuplicateStoreAddress);
  });
});

describe('store lifecycle persistence', () => {
  let dir: { path: string; cleanup: () => void };
  let engine: LmdbEngine | undefined;
  beforeEach(() => (dir = tempDir('tinykv-store-lifecycle-')));
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    dir.cleanup();
  });

  async function reopenEngine(): Promise<LmdbEngine> {
    await engine?.close();
    engine = new LmdbEngine({ path: join(dir.path, 'scheduler'), noSync: true });
    return engine;
  }

  it('keeps Offline and Tombstone across a reopen, with the same refusals', async () => {
    const first = await threeStores({}, await reopenEngine());
    await first.deleteStore(2);
    await first.deleteStore(3);
    await first.tombstoneStore(3);
    const second = await SchedulerCore.open(await reopenEngine(), { initialStores: 0 });
    expect(second.getAllStores(false).map((s) => [s.store.id, s.store.state])).toEqual([
      [1, StoreState.Up],
      [2, StoreState.Offline],
      [3, StoreState.Tombstone],
    ]);
    expect(await rejectionCode(second.putStore(store(3)))).toBe(SchedulerErrorCode.StoreTombstone);
    // Regions come back from storage: store 2 still holds a peer, so it cannot go yet.
    expect(await rejectionCode(second.tombstoneStore(2))).toBe(SchedulerErrorCode.StoreNotDrained);
    await second.putStore(store(9, store(3).address));
    expect(second.getStore(9).store.state).toBe(StoreState.Up);
    expect(second.getRegion(key('a'))?.region.id).toBe(5);
  });
});

describe('store liveness', () => {
  it('counts silence from the last heartbeat, or from the start before any', async () => {
    const clock = new ManualClock(1_000_000);
    const core = await threeStores({ clock });
    clock.advance(5_000);
    expect(core.state.storeDownMs(core.getStore(1))).toBe(5_000);
    core.storeHeartbeat(stats(1));
    clock.advance(1_500);
    expect(core.state.storeDownMs(core.getStore(1))).toBe(1_500);
    expect(core.state.storeDownMs(core.getStore(2))).toBe(6_500);
  });

  it('logs Offline, Tombstone, Down and back Up once per transition', async () => {
    const clock = new ManualClock(1_000_000);
    const { logger, lines } = capturingLogger();
    const core = await threeStores({ clock, logger, maxStoreDownTimeMs: () => 10_000 });
    const about = (storeId: number) => lines.filter((l) => l.storeId === storeId && l.msg.startsWith('store ')).map((l) => l.msg);
    for (const id of [1, 2, 3]) core.storeHeartbeat(stats(id));
    clock.advance(10_000);
    core.storeHeartbeat(stats(1));
    core.checkStoreLiveness();
    core.getStore(2);
    core.getAllStores(false);
    expect(about(1)).toEqual([]);
    expect(about(2)).toEqual(['store is down: no heartbeat within max-store-down-time']);
    core.storeHeartbeat(stats(2));
    core.storeHeartbeat(stats(2));
    expect(about(2)).toEqual(['store is down: no heartbeat within max-store-down-time', 'store is up again']);
    await core.deleteStore(3);
    await core.deleteStore(3);
    await core.tombstoneStore(3);
    expect(about(3)).toEqual([
      'store is down: no heartbeat within max-store-down-time',
      'store is offline; its replicas will move to other stores',
      'store is a tombstone; its address is free for a new store',
    ]);
  });
});
