/**
 * ReadIndex (Raft thesis §6.4): linearizable reads without writing the log.
 *
 * The leader records its commit index for each read request and tags it with
 * a sequence number. Every heartbeat it sends carries the latest sequence
 * number in `Message.index`; followers echo it back in MsgHeartbeatResponse
 * `index`. Once a quorum (the leader included) has echoed a sequence >= s, the
 * leader was still leader when read s arrived, so every read with sequence <= s
 * may be served at its recorded index after the state machine applies it.
 */
import { defined, invariant } from './assert.js';

/** A read that may be served once the state machine has applied `index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

interface PendingRead {
  seq: number;
  index: number;
  requestCtx: Uint8Array;
}

/** Upper bound on queued read requests; further requests are dropped. */
export const MAX_PENDING_READS = 65536;

export class ReadOnly {
  private pending: PendingRead[] = [];
  private head = 0;
  /** Reads received before the leader committed an entry of its term. */
  private waiting: Uint8Array[] = [];
  private lastSeq = 0;
  private readonly acked = new Map<number, number>();

  /** Sequence number to put in outgoing heartbeats (0 if no read was requested). */
  latestSeq(): number {
    return this.lastSeq;
  }

  pendingCount(): number {
    return this.pending.length - this.head + this.waiting.length;
  }

  /** Queues a read until the leader has committed an entry in its term. */
  defer(requestCtx: Uint8Array): boolean {
    if (this.pendingCount() >= MAX_PENDING_READS) return false;
    this.waiting.push(requestCtx);
    return true;
  }

  /** Moves deferred reads to the pending queue at `index`. Returns how many moved. */
  promoteWaiting(index: number): number {
    if (this.waiting.length === 0) return 0;
    const moved = this.waiting.length;
    for (const ctx of this.waiting) this.add(index, ctx);
    this.waiting = [];
    return moved;
  }

  /** Registers a read at `index`; returns its sequence number, or 0 if the queue is full. */
  add(index: number, requestCtx: Uint8Array): number {
    if (this.pendingCount() >= MAX_PENDING_READS) return 0;
    const seq = ++this.lastSeq;
    this.pending.push({ seq, index, requestCtx });
    return seq;
  }

  /** A follower echoed `seq`. */
  recvAck(from: number, seq: number): void {
    if (seq === 0 || seq > this.lastSeq) return;
    const prev = this.acked.get(from) ?? 0;
    if (seq > prev) this.acked.set(from, seq);
  }

  ackOf(id: number): number {
    return this.acked.get(id) ?? 0;
  }

  /** Releases every read whose sequence is <= `confirmedSeq`, oldest first. */
  release(confirmedSeq: number): ReadState[] {
    const out: ReadState[] = [];
    while (this.head < this.pending.length) {
      const r = defined(this.pending[this.head], 'pending[this.head]');
      if (r.seq > confirmedSeq) break;
      out.push({ index: r.index, requestCtx: r.requestCtx });
      this.head++;
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    invariant(this.head <= this.pending.length, 'read queue head past its end');
    return out;
  }

  /** Forgets everything (on any change of leadership). Pending reads are dropped. */
  reset(): void {
    this.pending = [];
    this.head = 0;
    this.waiting = [];
    this.lastSeq = 0;
    this.acked.clear();
  }
}
