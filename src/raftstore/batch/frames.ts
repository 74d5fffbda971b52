/**
 * Frames between the main thread and raft poller threads. A batch of frames is one msgpack
 * buffer whose memory is transferred with postMessage, not copied; protobuf payloads ride inside
 * as bytes. Batches are flushed once per event-loop turn.
 */
import { Packr } from 'msgpackr';

export type ToPoller =
  | { readonly t: 'tick' }
  | { readonly t: 'msg'; readonly m: Uint8Array }
  | { readonly t: 'cmd'; readonly id: number; readonly r: Uint8Array }
  | { readonly t: 'create'; readonly id: number; readonly region: Uint8Array }
  | { readonly t: 'stop'; readonly id: number };

export interface RegionReport {
  readonly region: Uint8Array;
  readonly peerId: number;
  readonly leader: boolean;
}

export type FromPoller =
  /** An encoded RaftMessage for store `s`; `snap` when it carries a snapshot. */
  | { readonly t: 'send'; readonly m: Uint8Array; readonly s: number; readonly snap: boolean }
  | { readonly t: 'done'; readonly id: number; readonly r: Uint8Array; readonly snap: boolean }
  | { readonly t: 'regions'; readonly regions: RegionReport[] }
  | { readonly t: 'ack'; readonly id: number }
  | { readonly t: 'gc'; readonly regionId: number; readonly from: number; readonly to: number }
  /** Sent once, when the thread's initialisation (engines opened, peers loaded) has finished. */
  | { readonly t: 'ready' };

/** Targets of a proposal's answer from an apply thread: the main thread, or the poller that handed it over. */
export const REPLY_MAIN = 0;
export const REPLY_POLLER = 1;

/** Poller (or main, for `stop`) to apply thread. */
export type ToApply =
  | {
      readonly t: 'apply';
      readonly g: number;
      /** Encoded committed entries. */
      readonly e: Uint8Array[];
      /** Replies as flat triples: entry index, reply id, REPLY_MAIN | REPLY_POLLER. */
      readonly rp: number[];
      readonly rd: Array<{ readonly i: number; readonly id: number; readonly to: number; readonly r: Uint8Array }>;
    }
  | { readonly t: 'restore'; readonly id: number; readonly g: number; readonly s: Uint8Array }
  | { readonly t: 'stop'; readonly id: number };

/** Apply thread to a poller; `done` and `ack` also go to the main thread. */
export type FromApply =
  | { readonly t: 'applied'; readonly g: number; readonly s: Uint8Array }
  | { readonly t: 'done'; readonly id: number; readonly r: Uint8Array; readonly snap: boolean }
  | { readonly t: 'restored'; readonly id: number; readonly error?: string }
  | { readonly t: 'ack'; readonly id: number }
  /** To the main thread only, once: the kv environment is open and the ports are listened on. */
  | { readonly t: 'ready' };

/** Largest batch of frames in one buffer; a fuller batch is split. */
export const MAX_FRAMES_PER_BATCH = 4096;

const packr = new Packr({ useRecords: false });

export function encodeFrames(frames: readonly unknown[]): ArrayBuffer {
  const packed = packr.pack(frames);
  // Copy out of the packer's reusable buffer into one the receiver can own.
  return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
}

export function decodeFrames<T>(buffer: ArrayBuffer): T[] {
  return packr.unpack(new Uint8Array(buffer)) as T[];
}

/** Collects frames during one event-loop turn and hands them over as one transferred buffer. */
export class FrameBatcher<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(private readonly post: (buffer: ArrayBuffer) => void) {}

  push(frame: T): void {
    this.pending.push(frame);
    if (this.pending.length >= MAX_FRAMES_PER_BATCH) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const frames = this.pending;
    this.pending = [];
    this.post(encodeFrames(frames));
  }
}
