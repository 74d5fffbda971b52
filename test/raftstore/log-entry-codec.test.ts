// Raft log entries carry a CRC32 checked on every read: a damaged stored entry is reported as
// KV:Raftstore:LogCorrupted naming its region and index, never decoded into a wrong command.
import { monotonicClock } from '../../src/env/clock.js';
import { NO_LEASE_PUBLISHER } from '../../src/raftstore/batch/lease-table.js';
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { Entry, EntryType, MessageType } from '../../src/proto/eraftpb.js';
import { RaftMessage } from '../../src/proto/raft_serverpb.js';
import { silentLogger } from '../../src/log/logger.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import { Peer } from '../../src/raftstore/peer/peer.js';
import { raftLogKey } from '../../src/raftstore/keys.js';
import { decodeLogEntry, encodeLogEntry } from '../../src/raftstore/peer/log-entry-codec.js';
import { InlineSnapshotSource } from '../../src/raftstore/snapshot/snapshot-source.js';
import { PeerStorage, type PeerEngines } from '../../src/raftstore/peer/peer-storage.js';
import { ErrorCode, isTinyKvError } from '../../src/util/errors.js';
import { RaftstoreMetrics } from '../../src/metrics/thread-recorder.js';

const REGION = {
  id: 7,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  regionEpoch: { confVer: 1, version: 1 },
  peers: [
    { id: 1, storeId: 1 },
    { id: 2, storeId: 2 },
  ],
};

function entry(index: number, data = `command-${index}`): Entry {
  return Entry.fromPartial({ entryType: EntryType.EntryNormal, term: 5, index, data: Buffer.from(data) });
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** A peer storage holding entries 6..10 on memory engines (their ops written as the store writes them). */
async function storageWithEntries(): Promise<{ engines: PeerEngines; load: () => PeerStorage }> {
  const engines: PeerEngines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
  const initial = PeerStorage.initialWrites(REGION);
  await engines.raft.write(initial.raftOps);
  await engines.kv.write(initial.kvOps);
  const deps = { engines, snapshots: new InlineSnapshotSource(engines.kv) };
  const storage = PeerStorage.load(REGION.id, deps, REGION);
  const writes = storage.prepareReady({ entries: [6, 7, 8, 9, 10].map((i) => entry(i)) });
  await engines.raft.write(writes.raftOps);
  // A fresh load has no entry cache: reads go to the engine.
  return { engines, load: () => PeerStorage.load(REGION.id, deps, REGION) };
}

async function flipStoredByte(engine: MemoryEngine | PeerEngines['raft'], index: number, at: (length: number) => number): Promise<void> {
  const key = raftLogKey(REGION.id, index);
  const value = Buffer.from(engine.get('meta', key)!);
  const flipAt = at(value.length);
  value[flipAt] = value.readUInt8(flipAt) ^ 0x10;
  await engine.write([{ type: 'put', cf: 'meta', key, value }]);
}

describe('raft log entry checksums', () => {
  it('round-trips entries through the stored form', async () => {
    const { load } = await storageWithEntries();
    const storage = load();
    expect(storage.entries(6, 11).map((e) => [e.index, Buffer.from(e.data).toString()])).toEqual([6, 7, 8, 9, 10].map((i) => [i, `command-${i}`]));
    expect(storage.term(8)).toBe(5);
  });

  it('a flipped byte in a stored entry stops reads with KV:Raftstore:LogCorrupted naming region and index', async () => {
    const { engines, load } = await storageWithEntries();
    // A byte of the command itself: plain protobuf would decode it as a different, valid command.
    await flipStoredByte(engines.raft, 8, (length) => length - 3);
    const storage = load();
    for (const read of [() => storage.entries(6, 11), () => storage.term(8)]) {
      const err = caught(read);
      expect(isTinyKvError(err) && err.code).toBe(ErrorCode.RaftLogCorrupted);
      expect((err as Error).message).toMatch(/^raft log entry 8 of region 7 is corrupted: checksum mismatch/);
    }
    // Entries before the damaged one are still served.
    expect(storage.entries(6, 8).map((e) => e.index)).toEqual([6, 7]);
  });

  it('a corrupted entry read while stepping a leader message is not dropped with the message', async () => {
    const { engines } = await storageWithEntries();
    await flipStoredByte(engines.raft, 8, (length) => length - 3);
    const host = {
      storeId: 1,
      engines,
      snapshots: new InlineSnapshotSource(engines.kv),
      config: DEFAULT_RAFTSTORE_CONFIG,
      random: () => 0.5,
      logger: silentLogger(),
      metrics: new RaftstoreMetrics(),
      send: () => {},
      siblingOf: () => undefined,
      clock: monotonicClock,
      leases: NO_LEASE_PUBLISHER,
    };
    const peer = Peer.create(host, REGION, 1);
    // The leader appends after index 8: the follower must read entry 8's term from its log.
    const append = RaftMessage.fromPartial({
      regionId: REGION.id,
      fromPeer: { id: 2, storeId: 2 },
      toPeer: { id: 1, storeId: 1 },
      regionEpoch: REGION.regionEpoch,
      message: { msgType: MessageType.MsgAppend, from: 2, to: 1, term: 6, logTerm: 5, index: 8, commit: 8, entries: [] },
    });
    const err = caught(() => peer.step(append));
    expect(isTinyKvError(err) && err.code).toBe(ErrorCode.RaftLogCorrupted);
  });

  it('detects every single-bit flip anywhere in a stored entry', () => {
    const stored = encodeLogEntry(entry(42, 'put k v'));
    for (let byte = 0; byte < stored.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(stored);
        damaged[byte] = damaged.readUInt8(byte) ^ (1 << bit);
        const err = caught(() => decodeLogEntry(3, 42, damaged));
        expect(isTinyKvError(err) && err.code, `byte ${byte} bit ${bit}`).toBe(ErrorCode.RaftLogCorrupted);
      }
    }
  });

  it('an entry stored under another index is reported', () => {
    const err = caught(() => decodeLogEntry(3, 43, encodeLogEntry(entry(42))));
    expect((err as Error).message).toBe('raft log entry 43 of region 3 is corrupted: entry holds index 42');
  });

  it('still reads entries written before checksums (plain protobuf) from older data directories', () => {
    const legacy = Entry.encode(entry(12)).finish();
    expect(decodeLogEntry(3, 12, legacy).data).toEqual(Buffer.from('command-12'));
  });
});
