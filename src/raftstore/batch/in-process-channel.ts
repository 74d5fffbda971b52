/**
 * A frame channel inside one thread, for the single-thread simulation (test/raftstore): the same
 * encoded frames as between threads, but nothing moves until the simulation pumps the channel,
 * so a run stays deterministic (no timers, no event-loop hand-offs).
 */
import type { FramePort } from './protocol.js';

/** Buffers posted but not yet pumped, per end; more are a runaway loop in the simulation. */
const MAX_QUEUED_BUFFERS = 1_000_000;

export class InProcessPort implements FramePort {
  private listener: ((buffer: ArrayBuffer) => void) | undefined;
  private readonly inbox: ArrayBuffer[] = [];
  private readonly deferred: Array<() => void> = [];
  /** Set by the channel: the other end. */
  other!: InProcessPort;

  postMessage(buffer: ArrayBuffer): void {
    if (this.other.inbox.length >= MAX_QUEUED_BUFFERS) throw new Error('in-process channel overflow');
    this.other.inbox.push(buffer);
  }

  on(_event: 'message', listener: (buffer: ArrayBuffer) => void): this {
    this.listener = listener;
    return this;
  }

  defer(flush: () => void): void {
    this.deferred.push(flush);
  }

  /** Runs this end's deferred flushes; returns whether there were any. */
  flushDeferred(): boolean {
    if (this.deferred.length === 0) return false;
    for (const flush of this.deferred.splice(0)) flush();
    return true;
  }

  /** Hands what arrived to the listener, in order; returns whether anything did. */
  deliver(): boolean {
    if (this.inbox.length === 0) return false;
    for (const buffer of this.inbox.splice(0)) this.listener?.(buffer);
    return true;
  }
}

export class InProcessChannel {
  readonly port1 = new InProcessPort();
  readonly port2 = new InProcessPort();

  constructor() {
    this.port1.other = this.port2;
    this.port2.other = this.port1;
  }

  /** Flushes both ends' batches, then delivers what they posted; returns whether anything moved. */
  pump(): boolean {
    const flushed1 = this.port1.flushDeferred();
    const flushed2 = this.port2.flushDeferred();
    const delivered1 = this.port1.deliver();
    const delivered2 = this.port2.deliver();
    return flushed1 || flushed2 || delivered1 || delivered2;
  }
}
