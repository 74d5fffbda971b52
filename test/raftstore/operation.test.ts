// The operation modules on their own, against a fake peer: the checks every command passes (and
// their order), one ReadIndex per round of reads, NotLeader for reads a deposed leader held,
// proposals answered StaleCommand when another term's entry takes their index, and CompactLog
// never moving the truncated state back.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/proto/eraftpb.js';
import { AdminCmdType, CmdType, RaftCmdRequest, type DeepPartial, type RaftRequestHeader } from '../../src/proto/raft_cmdpb.js';
import { RaftApplyState } from '../../src/proto/raft_serverpb.js';
import { ErrProposalDropped } from '../../src/raft/index.js';
import { checkCommand } from '../../src/raftstore/operation/command.js';
import { FakePeer } from './fake-peer.js';
import { applyCompactLog, LogCompaction } from '../../src/raftstore/operation/compact-log.js';
import type { PeerStorage } from '../../src/raftstore/peer/peer-storage.js';
import { ReadIndexReads } from '../../src/raftstore/operation/read.js';
import { WriteProposals } from '../../src/raftstore/operation/write.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import { RegionError } from '../../src/raftstore/router/errors.js';

const get = (key: string, header: DeepPartial<RaftRequestHeader> = {}) =>
  RaftCmdRequest.fromPartial({ header, requests: [{ cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from(key) } }] });

function regionErrorOf(fn: () => void): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegionError)
      return Object.entries(err.regionError)
        .filter(([k, v]) => k !== 'message' && v !== undefined)
        .map(([k]) => k);
    throw err;
  }
  return [];
}

describe('checkCommand', () => {
  it('checks store, then leadership, then term, then epoch, then keys', () => {
    const peer = new FakePeer();
    const everythingWrong = get('z', { peer: { id: 21, storeId: 2 }, term: 3, regionEpoch: { confVer: 2, version: 1 } });
    peer.leader = false;
    expect(regionErrorOf(() => checkCommand(everythingWrong, peer))).toEqual(['storeNotMatch']);
    const notMine = get('z', { term: 3, regionEpoch: { confVer: 2, version: 1 } });
    expect(regionErrorOf(() => checkCommand(notMine, peer))).toEqual(['notLeader']);
    peer.leader = true;
    expect(regionErrorOf(() => checkCommand(notMine, peer))).toEqual(['staleCommand']);
    const oldEpoch = get('z', { term: 6, regionEpoch: { confVer: 2, version: 1 } });
    expect(regionErrorOf(() => checkCommand(oldEpoch, peer))).toEqual(['epochNotMatch']);
    expect(regionErrorOf(() => checkCommand(get('z', { regionEpoch: { confVer: 2, version: 3 } }), peer))).toEqual(['keyNotInRegion']);
    expect(regionErrorOf(() => checkCommand(get('b'), peer))).toEqual([]);
  });

  it('checks a CompactLog against the version only', () => {
    const compact = RaftCmdRequest.fromPartial({
      header: { regionEpoch: { confVer: 1, version: 3 } },
      adminRequest: { cmdType: AdminCmdType.CompactLog, compactLog: { compactIndex: 5, compactTerm: 6 } },
    });
    expect(regionErrorOf(() => checkCommand(compact, new FakePeer()))).toEqual([]);
  });
});

describe('ReadIndexReads', () => {
  it('asks one ReadIndex for a round of reads and hands them over once confirmed', () => {
    const asked: Uint8Array[] = [];
    const reads = new ReadIndexReads(new FakePeer(), { readIndex: (ctx) => asked.push(ctx) });
    reads.propose(get('b'), () => {});
    reads.propose(get('c'), () => {});
    expect(reads.hasBatch()).toBe(true);
    reads.askReadIndex();
    expect(asked).toHaveLength(1);
    expect(reads.hasBatch()).toBe(false);
    expect(reads.length).toBe(2);
    reads.onReadStates([{ index: 12, requestCtx: asked[0]! }]);
    const confirmed = reads.takeConfirmed();
    expect(confirmed.map((r) => r.index)).toEqual([12, 12]);
    expect(reads.length).toBe(0);
  });

  it('answers NotLeader, with the known leader, for reads a peer can no longer confirm', () => {
    const peer = new FakePeer();
    const answers: CommandResult[] = [];
    const reads = new ReadIndexReads(peer, { readIndex: () => {} });
    reads.propose(get('b'), (r) => answers.push(r));
    reads.askReadIndex();
    reads.propose(get('c'), (r) => answers.push(r));
    peer.leader = false;
    reads.failUnconfirmed();
    expect(answers).toHaveLength(2);
    for (const { response } of answers) {
      expect(response.header?.error?.notLeader?.leader?.id).toBe(12);
      expect(response.header?.currentTerm).toBe(7);
    }
    expect(reads.length).toBe(0);
  });
});

describe('WriteProposals', () => {
  const entry = (index: number, term: number): Entry => ({ entryType: 0, index, term, data: Buffer.alloc(0) });

  it('matches proposals to committed entries by index and term; the overwritten get StaleCommand', () => {
    const peer = new FakePeer();
    const writes = new WriteProposals(peer, { propose: () => peer.last++ });
    const answers: string[] = [];
    for (const name of ['p11', 'p12', 'p13']) {
      writes.propose(get('b'), (r) => answers.push(`${name}:${r.response.header?.error?.staleCommand ? 'stale' : 'ok'}`));
    }
    const replies = writes.takeAnswered([entry(11, 7), entry(12, 8), entry(13, 7)]);
    expect(replies.map((r) => r.index)).toEqual([11, 13]);
    expect(answers).toEqual(['p12:stale']);
    expect(writes.length).toBe(0);
  });

  it('turns a dropped proposal into NotLeader and keeps nothing waiting', () => {
    const writes = new WriteProposals(new FakePeer(), {
      propose: () => {
        throw new ErrProposalDropped();
      },
    });
    expect(regionErrorOf(() => writes.propose(get('b'), () => {}))).toEqual(['notLeader']);
    expect(writes.length).toBe(0);
  });
});

describe('applyCompactLog', () => {
  const state = RaftApplyState.fromPartial({ appliedIndex: 30, truncatedState: { index: 20, term: 6 } });

  it('moves the truncated state forward', () => {
    const { applyState, response } = applyCompactLog({ compactIndex: 25, compactTerm: 7 }, state);
    expect(applyState.truncatedState).toEqual({ index: 25, term: 7 });
    expect(response.adminResponse?.cmdType).toBe(AdminCmdType.CompactLog);
  });

  it('never moves it back, and still answers', () => {
    const { applyState, response } = applyCompactLog({ compactIndex: 15, compactTerm: 5 }, state);
    expect(applyState).toBe(state);
    expect(response.header?.error).toBeUndefined();
  });
});

describe('LogCompaction', () => {
  function compaction(propose: () => void) {
    const peer = Object.assign(new FakePeer(), {
      meta: { id: 11, storeId: 1 },
      storage: { appliedIndex: 100, firstIndex: () => 6, term: () => 7 } as unknown as PeerStorage,
    });
    const proposed: number[] = [];
    const writes = new WriteProposals(peer, {
      propose: () => {
        propose();
        proposed.push(++peer.last);
      },
    });
    return { log: new LogCompaction(peer, writes, { raftLogGcTickInterval: 1, raftLogGcCountLimit: 10 }), proposed, writes };
  }

  it('proposes one CompactLog at a time', () => {
    const { log, proposed } = compaction(() => {});
    log.onTick();
    log.onTick();
    expect(proposed).toEqual([11]);
  });

  it('a proposal Raft drops (leader transfer, conf change) is tried again on a later tick, not left pending', () => {
    let drop = true;
    const { log, proposed } = compaction(() => {
      if (drop) throw new ErrProposalDropped();
    });
    expect(() => log.onTick()).not.toThrow();
    expect(proposed).toEqual([]);
    drop = false;
    log.onTick();
    expect(proposed).toEqual([11]);
  });
});
