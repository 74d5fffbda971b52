// The thread protocol (src/raftstore/batch/protocol.ts): frames survive encoding, and a frame
// that is not what its channel carries is an internal failure, never a silent cast.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { decode, encodeFrames, forEachReply, frames, ReplyList, type PollerToApply } from '../../src/raftstore/batch/protocol.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const raw = (batch: unknown): ArrayBuffer => {
  const packed = new Packr({ useRecords: false }).pack(batch);
  return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
};

describe('thread protocol', () => {
  it('round-trips every frame a poller receives', () => {
    const batch = [frames.tick(), frames.raftMessage(bytes(1, 2)), frames.command(7, bytes(3)), frames.createRegion(8, bytes(4))];
    const decoded = decode.mainToPoller(encodeFrames(batch));
    expect(decoded.map((frame) => frame.kind)).toEqual(['tick', 'raftMessage', 'command', 'createRegion']);
    expect(decoded[2]).toMatchObject({ kind: 'command', replyTo: 'main', id: 7 });
    expect(Buffer.from((decoded[1] as { message: Uint8Array }).message)).toEqual(Buffer.from([1, 2]));
  });

  it('carries reply addresses of an apply frame', () => {
    const replies = new ReplyList();
    replies.add(10, { replyTo: 'main', id: 1 });
    replies.add(11, { replyTo: 'poller', id: 2 });
    const read = frames.read(12, { replyTo: 'poller', id: 3 }, bytes(5));
    const [frame] = decode.pollerToApply(encodeFrames([frames.apply(4, [bytes(6)], replies, [read])])) as [PollerToApply];
    expect(frame.kind).toBe('apply');
    if (frame.kind !== 'apply') return;
    const seen: unknown[] = [];
    forEachReply(frame, (index, replyTo, id) => seen.push([index, replyTo, id]));
    expect(seen).toEqual([
      [10, 'main', 1],
      [11, 'poller', 2],
    ]);
    expect(frame.reads[0]).toMatchObject({ index: 12, replyTo: 'poller', id: 3 });
  });

  it('round-trips what apply threads and pollers send back', () => {
    const change = { changeType: 0, peerId: 4, storeId: 4, region: bytes(1) };
    const applied = [frames.applied(1, bytes(), [change], undefined, []), frames.applied(1, bytes(), [], bytes(3), [7])];
    expect(decode.applyToPoller(encodeFrames([...applied, frames.restored(2), frames.restored(3, 'disk full')]))).toEqual([
      { kind: 'applied', regionId: 1, applyState: expect.any(Uint8Array), confChanges: [{ ...change, region: expect.any(Uint8Array) }], created: [] },
      { kind: 'applied', regionId: 1, applyState: expect.any(Uint8Array), confChanges: [], region: expect.any(Uint8Array), created: [7] },
      { kind: 'restored', id: 2 },
      { kind: 'restored', id: 3, error: 'disk full' },
    ]);
    const fromPoller = decode.pollerToMain(
      encodeFrames([frames.send(bytes(1), 2, false), frames.gc(1, 5, 9), frames.splitCreated(8, true), frames.ready()]),
    );
    expect(fromPoller.map((frame) => frame.kind)).toEqual(['send', 'gc', 'splitCreated', 'ready']);
    expect(decode.mainToPoller(encodeFrames([frames.initSplitRegion(8, false)]))).toEqual([
      { kind: 'initSplitRegion', regionId: 8, campaign: false },
    ]);
    expect(decode.applyToMain(encodeFrames([frames.done(1, bytes(), true), frames.ready()])).map((f) => f.kind)).toEqual(['done', 'ready']);
    expect(() => decode.applyToMain(encodeFrames([frames.ack(2)]))).toThrow(/unknown kind ack/);
  });

  it("round-trips a poller's regions report with a leader's pending and down peer ids, and refuses one without them", () => {
    const leading = {
      region: bytes(9),
      peerId: 11,
      leader: true,
      pendingPeerIds: [13],
      downPeerIds: [12, 13],
      term: 7,
      leaseSlot: 3,
      leaseGeneration: 9,
    };
    const following = {
      region: bytes(8),
      peerId: 21,
      leader: false,
      pendingPeerIds: [],
      downPeerIds: [],
      term: 7,
      leaseSlot: -1,
      leaseGeneration: 0,
    };
    expect(decode.pollerToMain(encodeFrames([frames.regions([leading, following])]))).toEqual([
      { kind: 'regions', regions: [leading, following].map((r) => ({ ...r, region: expect.any(Uint8Array) })) },
    ]);
    const { downPeerIds: _dropped, ...old } = leading;
    expect(() => decode.pollerToMain(raw([{ kind: 'regions', regions: [old] }]))).toThrow(/wrong shape/);
    expect(() => decode.pollerToMain(raw([{ kind: 'regions', regions: [{ ...leading, pendingPeerIds: ['13'] }] }]))).toThrow(/wrong shape/);
  });

  it('fails on a frame of unknown kind, of the wrong shape, or on the wrong channel', () => {
    expect(() => decode.mainToPoller(raw([{ kind: 'bogus' }]))).toThrow(/unknown kind bogus/);
    expect(() => decode.mainToPoller(raw([{ t: 'tick' }]))).toThrow(/unknown kind/);
    expect(() => decode.mainToPoller(raw([{ kind: 'command', replyTo: 'main', id: '7', request: bytes() }]))).toThrow(/wrong shape/);
    expect(() => decode.mainToPoller(raw({ kind: 'tick' }))).toThrow(/not an array/);
    expect(() => decode.applyToMain(encodeFrames([frames.applied(1, bytes(), [], undefined, [])]))).toThrow(/unknown kind applied/);
    expect(() => decode.pollerToApply(raw([{ kind: 'apply', regionId: 1, entries: [], replies: [1, 2], reads: [] }]))).toThrow(/wrong shape/);
  });
});
