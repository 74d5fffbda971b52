import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import type { Raft } from '../../src/raft/raft.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, msg, newTestRaft } from './helpers.js';

function leader(extra: Parameters<typeof newTestRaft>[5]): Raft {
  const r = newTestRaft(1, [1, 2], 10, 1, new MemoryStorage(), extra);
  r.becomeCandidate();
  r.becomeLeader();
  r.readMessages();
  // Follower 2 acks the noop: it moves to Replicate.
  r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1 }));
  r.readMessages();
  return r;
}

function propose(r: Raft, data = 'x'): void {
  r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, data)] }));
}

function appendsTo2(r: Raft) {
  return r.readMessages().filter((m) => m.msgType === MessageType.MsgAppend && m.to === 2);
}

describe('flow control', () => {
  it('pipelines at most maxInflightMsgs appends in Replicate state', () => {
    const r = leader({ maxInflightMsgs: 3 });
    expect(r.tracker.get(2)?.state).toBe('Replicate');
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      propose(r);
      sent += appendsTo2(r).filter((m) => m.entries.length > 0).length;
    }
    expect(sent).toBe(3);
    expect(r.tracker.get(2)?.inflights.full()).toBe(true);
    // Acking the first in-flight message frees one slot and sends the rest in one message.
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 2 }));
    const more = appendsTo2(r).filter((m) => m.entries.length > 0);
    expect(more).toHaveLength(1);
    expect(more[0]?.entries.map((e) => e.index)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });

  it('a heartbeat response frees one in-flight slot of a full window', () => {
    const r = leader({ maxInflightMsgs: 1 });
    propose(r);
    expect(appendsTo2(r).filter((m) => m.entries.length > 0)).toHaveLength(1);
    propose(r);
    expect(appendsTo2(r).filter((m) => m.entries.length > 0)).toHaveLength(0);
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgHeartbeatResponse }));
    expect(appendsTo2(r).filter((m) => m.entries.length > 0)).toHaveLength(1);
  });

  it('limits entries per message by maxSizePerMsgBytes (always at least one)', () => {
    const r = leader({ maxSizePerMsgBytes: 100, maxInflightMsgs: 100 });
    const r2 = r.tracker.get(2)!;
    r2.becomeProbe();
    r2.probeSent = true; // hold replication while we propose
    for (let i = 0; i < 10; i++) propose(r, 'y'.repeat(30)); // 30 + 16 bytes each
    r.readMessages();
    r2.becomeReplicate();
    r.sendAppend(2);
    const [m] = appendsTo2(r);
    expect(m?.entries).toHaveLength(2);
    const big = leader({ maxSizePerMsgBytes: 10 });
    propose(big, 'z'.repeat(100));
    expect(appendsTo2(big)[0]?.entries).toHaveLength(1);
  });

  it('sends one append at a time while probing', () => {
    const r = leader({});
    r.tracker.get(2)!.becomeProbe();
    propose(r);
    propose(r);
    propose(r);
    const sent = appendsTo2(r).filter((m) => m.entries.length > 0);
    expect(sent).toHaveLength(1);
    expect(r.tracker.get(2)?.probeSent).toBe(true);
  });

  it('moves a follower from Probe to Replicate on a successful append response', () => {
    const r = newTestRaft(1, [1, 2], 10, 1);
    r.becomeCandidate();
    r.becomeLeader();
    expect(r.tracker.get(2)?.state).toBe('Probe');
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1 }));
    expect(r.tracker.get(2)?.state).toBe('Replicate');
    // A rejection in Replicate falls back to Probe.
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1, reject: true }));
    expect(r.tracker.get(2)?.state).toBe('Replicate'); // stale: rejected index <= match
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 2, reject: true, commit: 1 }));
    expect(r.tracker.get(2)?.state).toBe('Probe');
  });

  it('reportUnreachable moves a Replicate follower back to Probe', () => {
    const r = leader({});
    r.reportUnreachable(2);
    expect(r.tracker.get(2)?.state).toBe('Probe');
  });
});
