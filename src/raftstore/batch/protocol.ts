/**
 * The data-plane protocol between a store's threads: the main thread, the raft pollers
 * (poller-thread.ts) and the apply threads (../apply/apply-thread.ts). This module is the only
 * place frames are built, encoded, decoded and checked; everything else handles typed frames.
 *
 * Wire format: a batch of frames is one msgpack array whose buffer is transferred with
 * postMessage, not copied; protobuf payloads ride inside as bytes. Batches are flushed once per
 * event-loop turn (FrameBatcher). Frames are plain maps with the field names below.
 *
 * Channels (sender -> receiver), their frames, and what answers each:
 *
 * - main -> poller: `tick` and `raftMessage` (no answer); `command` (replyTo 'main', id),
 *   answered by exactly one `done` with that id to main: from the poller when its peer refuses
 *   the command or fails it before it applies, else from the apply thread; `createRegion` (id),
 *   answered by `ack` (id) from the poller once the region's peer runs; `initSplitRegion` (no answer).
 * - poller -> main: `send`, `regions`, `gc`, `splitCreated` (passed on to the poller hosting the
 *   new region as `initSplitRegion`), and `ready` once when the thread has started (no answers).
 * - poller -> apply: `apply`, whose replies and reads each carry a reply address, answered per
 *   reply and read by one `done` to that address ('main': on the apply thread's port to main;
 *   'poller': on the port of the poller that sent the task), and per batch by an `applied` to
 *   that poller; `restore` (id), answered by `restored` (id, and the error if it failed);
 *   `destroy` (id), answered by `destroyed` (id, and the error if it failed).
 * - apply -> main: `done`, and `ready` once (no answers).
 * - apply -> poller: `applied`, `done`, `restored`, `destroyed` (no answers).
 *
 * Orderly shutdown, status, metrics and configuration are not frames: they are calls on each
 * thread's control port (control.ts).
 *
 * Frames come from the store's own threads, never from the network (the main thread validated
 * that): a frame that does not decode or has the wrong shape is an internal failure, and the
 * receiver fail-stops (decode throws an assertion error).
 */
import { Packr } from 'msgpackr';
import { assert } from '../../util/assert.js';
import type { ReplyAddress, ReplyTarget } from '../router/command-callback.js';

/** A region as a poller reports it to the main thread (for routing and scheduler heartbeats). */
export interface RegionReport {
  /** An encoded metapb.Region. */
  readonly region: Uint8Array;
  readonly peerId: number;
  readonly leader: boolean;
  /** A leader's followers that need a snapshot (Peer.pendingPeers); empty on a follower. */
  readonly pendingPeerIds: number[];
  /** A leader's followers silent for max-peer-down-duration (Peer.downPeers); empty on a follower. */
  readonly downPeerIds: number[];
  /** The peer's Raft term. */
  readonly term: number;
  /** Where a leader's lease is in the poller's lease table (lease-table.ts); -1 for none. */
  readonly leaseSlot: number;
  /** The lease's generation in that slot; the main thread serves nothing under another. */
  readonly leaseGeneration: number;
}

/** Main thread to a raft poller. */
export type ToPoller =
  /** One raft base tick for every peer of the poller. */
  | { readonly kind: 'tick' }
  /** An encoded RaftMessage from the network; the poller decodes and checks it. */
  | { readonly kind: 'raftMessage'; readonly message: Uint8Array }
  /** An encoded RaftCmdRequest; answered with `done` to main with `id`. */
  | CommandFrame
  /** An encoded bootstrap Region to create; answered with `ack`. */
  | { readonly kind: 'createRegion'; readonly id: number; readonly region: Uint8Array }
  /** Start the peer of a region a split created (its states are on disk); `campaign` at once. No answer. */
  | { readonly kind: 'initSplitRegion'; readonly regionId: number; readonly campaign: boolean };

/** An encoded RaftCmdRequest from the main thread; its address is where the answer goes. */
export interface CommandFrame extends ReplyAddress {
  readonly kind: 'command';
  readonly replyTo: 'main';
  readonly request: Uint8Array;
}

/** A raft poller to the main thread. */
export type FromPoller =
  /** An encoded RaftMessage for store `storeId`; `snapshot` when it carries a snapshot (sent in chunks). */
  | { readonly kind: 'send'; readonly message: Uint8Array; readonly storeId: number; readonly snapshot: boolean }
  | DoneFrame
  /** The poller's regions, sent when they or their leadership changed. */
  | { readonly kind: 'regions'; readonly regions: RegionReport[] }
  | AckFrame
  /** A split created a region another poller hosts: the main thread passes it on as `initSplitRegion`. */
  | { readonly kind: 'splitCreated'; readonly regionId: number; readonly campaign: boolean }
  /** Delete the region's compacted log entries [fromIndex, toIndex) on the raft-log GC thread. */
  | { readonly kind: 'gc'; readonly regionId: number; readonly fromIndex: number; readonly toIndex: number }
  | ReadyFrame;

/** The answer to a command: an encoded RaftCmdResponse; `snapshot` when the receiver opens a kv snapshot for it (Snap). */
export interface DoneFrame {
  readonly kind: 'done';
  readonly id: number;
  readonly response: Uint8Array;
  readonly snapshot: boolean;
}

export interface AckFrame {
  readonly kind: 'ack';
  readonly id: number;
}

/** Sent once, when the thread's initialisation (engines opened, peers loaded) has finished. */
export interface ReadyFrame {
  readonly kind: 'ready';
}

/** A read ReadIndex confirmed at `index`, answered to its address once applied that far. */
export interface ReadFrame extends ReplyAddress {
  readonly index: number;
  /** An encoded RaftCmdRequest. */
  readonly request: Uint8Array;
}

/** A raft poller to an apply thread. */
export type PollerToApply =
  | {
      readonly kind: 'apply';
      readonly regionId: number;
      /** Encoded committed entries, contiguous, following what was handed over before. */
      readonly entries: Uint8Array[];
      /**
       * The proposals the entries answer, as flat triples (entry index, reply id, 0 for 'main' or 1
       * for 'poller'): one number array instead of an object per reply. Read with `forEachReply`.
       */
      readonly replies: number[];
      readonly reads: ReadFrame[];
    }
  /** An encoded Snapshot to write after everything handed over before; answered with `restored`. */
  | { readonly kind: 'restore'; readonly id: number; readonly regionId: number; readonly snapshot: Uint8Array }
  /**
   * Destroy the region's peer after everything handed over before (the apply thread works out
   * which data to clear then); `region` (encoded) is the poller's view of it, for the tombstone of
   * a peer that has no state there; answered with `destroyed`.
   */
  | { readonly kind: 'destroy'; readonly id: number; readonly regionId: number; readonly region: Uint8Array };

export type ApplyFrame = Extract<PollerToApply, { kind: 'apply' }>;

export interface AppliedFrame {
  readonly kind: 'applied';
  readonly regionId: number;
  readonly applyState: Uint8Array;
  readonly confChanges: ConfChangeReport[];
  readonly region?: Uint8Array;
  readonly created: number[];
}

/** A conf change an apply thread applied, for the peer's RawNode and region. */
export interface ConfChangeReport {
  /** An eraftpb.ConfChangeType. */
  readonly changeType: number;
  readonly peerId: number;
  readonly storeId: number;
  /** The encoded metapb.Region after the change. */
  readonly region: Uint8Array;
}

/** An apply thread to the raft poller that handed it the region. */
export type ApplyToPoller =
  /**
   * A region's encoded RaftApplyState after a batch, the conf changes the batch applied in log
   * order, the encoded region after them and any split (absent when unchanged), and the ids of the
   * regions its splits created.
   */
  | AppliedFrame
  | DoneFrame
  | { readonly kind: 'restored'; readonly id: number; readonly error?: string }
  | { readonly kind: 'destroyed'; readonly id: number; readonly error?: string };

/** An apply thread to the main thread. */
export type ApplyToMain = DoneFrame | ReadyFrame;

export type Frame = ToPoller | FromPoller | PollerToApply | ApplyToPoller | ApplyToMain;

// --- constructors: the only place frames are built ---

const TICK: ToPoller = { kind: 'tick' };
const READY: ReadyFrame = { kind: 'ready' };

export const frames = {
  tick: (): ToPoller => TICK,
  raftMessage: (message: Uint8Array): ToPoller => ({ kind: 'raftMessage', message }),
  command: (id: number, request: Uint8Array): ToPoller => ({ kind: 'command', replyTo: 'main', id, request }),
  createRegion: (id: number, region: Uint8Array): ToPoller => ({ kind: 'createRegion', id, region }),
  initSplitRegion: (regionId: number, campaign: boolean): ToPoller => ({ kind: 'initSplitRegion', regionId, campaign }),
  splitCreated: (regionId: number, campaign: boolean): FromPoller => ({ kind: 'splitCreated', regionId, campaign }),
  send: (message: Uint8Array, storeId: number, snapshot: boolean): FromPoller => ({ kind: 'send', message, storeId, snapshot }),
  done: (id: number, response: Uint8Array, snapshot: boolean): DoneFrame => ({ kind: 'done', id, response, snapshot }),
  regions: (regions: RegionReport[]): FromPoller => ({ kind: 'regions', regions }),
  ack: (id: number): AckFrame => ({ kind: 'ack', id }),
  gc: (regionId: number, fromIndex: number, toIndex: number): FromPoller => ({ kind: 'gc', regionId, fromIndex, toIndex }),
  ready: (): ReadyFrame => READY,
  apply: (regionId: number, entries: Uint8Array[], replies: ReplyList, reads: ReadFrame[]): PollerToApply => ({
    kind: 'apply',
    regionId,
    entries,
    replies: replies.triples,
    reads,
  }),
  read: (index: number, address: ReplyAddress, request: Uint8Array): ReadFrame => ({ index, replyTo: address.replyTo, id: address.id, request }),
  restore: (id: number, regionId: number, snapshot: Uint8Array): PollerToApply => ({ kind: 'restore', id, regionId, snapshot }),
  applied: (
    regionId: number,
    applyState: Uint8Array,
    confChanges: ConfChangeReport[],
    region: Uint8Array | undefined,
    created: number[],
  ): ApplyToPoller =>
    region === undefined
      ? { kind: 'applied', regionId, applyState, confChanges, created }
      : { kind: 'applied', regionId, applyState, confChanges, region, created },
  restored: (id: number, error?: string): ApplyToPoller => (error === undefined ? { kind: 'restored', id } : { kind: 'restored', id, error }),
  destroy: (id: number, regionId: number, region: Uint8Array): PollerToApply => ({ kind: 'destroy', id, regionId, region }),
  destroyed: (id: number, error?: string): ApplyToPoller => (error === undefined ? { kind: 'destroyed', id } : { kind: 'destroyed', id, error }),
} as const;

/** Builds the replies of an `apply` frame. */
export class ReplyList {
  readonly triples: number[] = [];

  add(index: number, address: ReplyAddress): void {
    this.triples.push(index, address.id, address.replyTo === 'main' ? 0 : 1);
  }
}

/** Visits the replies of an `apply` frame: the entry index each answers and its address. */
export function forEachReply(frame: ApplyFrame, visit: (index: number, replyTo: ReplyTarget, id: number) => void): void {
  const triples = frame.replies;
  for (let i = 0; i + 2 < triples.length; i += 3) {
    // The bound check above proves both slots; `?? 0` only narrows the type (no call per reply).
    visit(triples[i] ?? 0, triples[i + 2] === 0 ? 'main' : 'poller', triples[i + 1] ?? 0);
  }
}

// --- encoding and checked decoding ---

/** Largest batch of frames in one buffer; a fuller batch is split. */
export const MAX_FRAMES_PER_BATCH = 4096;

const packr = new Packr({ useRecords: false });

export function encodeFrames(batch: readonly Frame[]): ArrayBuffer {
  const packed = packr.pack(batch);
  // Copy out of the packer's reusable buffer into one the receiver can own.
  return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
}

type Shape = Record<string, (value: unknown) => boolean>;

const isNumber = (value: unknown): boolean => typeof value === 'number';
const isBoolean = (value: unknown): boolean => typeof value === 'boolean';
const isBytes = (value: unknown): boolean => value instanceof Uint8Array;
const isString = (value: unknown): boolean => typeof value === 'string';
const isOptionalString = (value: unknown): boolean => value === undefined || typeof value === 'string';
const isNumbers = (value: unknown): boolean => Array.isArray(value) && value.length % 3 === 0 && value.every(isNumber);
const isBytesArray = (value: unknown): boolean => Array.isArray(value) && value.every(isBytes);
const READ_SHAPE: Shape = { index: isNumber, replyTo: (v) => v === 'main' || v === 'poller', id: isNumber, request: isBytes };
const isIds = (value: unknown): boolean => Array.isArray(value) && value.every(isNumber);
const REGION_SHAPE: Shape = {
  region: isBytes,
  peerId: isNumber,
  leader: isBoolean,
  pendingPeerIds: isIds,
  downPeerIds: isIds,
  term: isNumber,
  leaseSlot: isNumber,
  leaseGeneration: isNumber,
};
const isReads = (value: unknown): boolean => Array.isArray(value) && value.every((read) => hasShape(read, READ_SHAPE));
const isRegions = (value: unknown): boolean => Array.isArray(value) && value.every((region) => hasShape(region, REGION_SHAPE));
const CONF_CHANGE_SHAPE: Shape = { changeType: isNumber, peerId: isNumber, storeId: isNumber, region: isBytes };
const isConfChanges = (value: unknown): boolean => Array.isArray(value) && value.every((change) => hasShape(change, CONF_CHANGE_SHAPE));

const ACK_SHAPE: Shape = { id: isNumber };
const DONE_SHAPE: Shape = { id: isNumber, response: isBytes, snapshot: isBoolean };

/** The fields of every frame kind each channel carries. */
const TO_POLLER: Record<ToPoller['kind'], Shape> = {
  tick: {},
  raftMessage: { message: isBytes },
  command: { replyTo: (v) => v === 'main', id: isNumber, request: isBytes },
  createRegion: { id: isNumber, region: isBytes },
  initSplitRegion: { regionId: isNumber, campaign: isBoolean },
};
const FROM_POLLER: Record<FromPoller['kind'], Shape> = {
  send: { message: isBytes, storeId: isNumber, snapshot: isBoolean },
  done: DONE_SHAPE,
  regions: { regions: isRegions },
  ack: ACK_SHAPE,
  gc: { regionId: isNumber, fromIndex: isNumber, toIndex: isNumber },
  splitCreated: { regionId: isNumber, campaign: isBoolean },
  ready: {},
};
const POLLER_TO_APPLY: Record<PollerToApply['kind'], Shape> = {
  apply: { regionId: isNumber, entries: isBytesArray, replies: isNumbers, reads: isReads },
  restore: { id: isNumber, regionId: isNumber, snapshot: isBytes },
  destroy: { id: isNumber, regionId: isNumber, region: isBytes },
};
const APPLY_TO_POLLER: Record<ApplyToPoller['kind'], Shape> = {
  applied: {
    regionId: isNumber,
    applyState: isBytes,
    confChanges: isConfChanges,
    region: (v) => v === undefined || isBytes(v),
    created: isIds,
  },
  done: DONE_SHAPE,
  restored: { id: isNumber, error: isOptionalString },
  destroyed: { id: isNumber, error: isOptionalString },
};
const APPLY_TO_MAIN: Record<ApplyToMain['kind'], Shape> = { done: DONE_SHAPE, ready: {} };

function hasShape(value: unknown, shape: Shape): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  for (const field in shape) {
    const check = shape[field];
    if (check !== undefined && !check(record[field])) return false;
  }
  return true;
}

function decodeChecked<T>(buffer: ArrayBuffer, kinds: Record<string, Shape>, channel: string): T[] {
  const batch: unknown = packr.unpack(new Uint8Array(buffer));
  assert(Array.isArray(batch), `${channel} batch is not an array of frames`);
  for (const frame of batch) {
    const kind = (frame as { kind?: unknown } | null)?.kind;
    const shape = isString(kind) && Object.hasOwn(kinds, kind as string) ? kinds[kind as string] : undefined;
    assert(shape !== undefined, `${channel} frame of unknown kind ${String(kind)}`);
    assert(hasShape(frame, shape), `${channel} frame ${String(kind)} has the wrong shape`);
  }
  return batch as T[];
}

/** Checked decoders, one per channel: a frame of a kind the channel does not carry is a failure too. */
export const decode = {
  mainToPoller: (buffer: ArrayBuffer): ToPoller[] => decodeChecked(buffer, TO_POLLER, 'main-to-poller'),
  pollerToMain: (buffer: ArrayBuffer): FromPoller[] => decodeChecked(buffer, FROM_POLLER, 'poller-to-main'),
  pollerToApply: (buffer: ArrayBuffer): PollerToApply[] => decodeChecked(buffer, POLLER_TO_APPLY, 'poller-to-apply'),
  applyToPoller: (buffer: ArrayBuffer): ApplyToPoller[] => decodeChecked(buffer, APPLY_TO_POLLER, 'apply-to-poller'),
  applyToMain: (buffer: ArrayBuffer): ApplyToMain[] => decodeChecked(buffer, APPLY_TO_MAIN, 'apply-to-main'),
} as const;

/**
 * Decodes a batch and hands each frame to `handle`. A batch that does not decode, or a frame whose
 * handling throws, goes to `fail` (the receiving thread's fail-stop); the frames after a failed
 * one are still handled, as the thread is ending anyway.
 */
export function receiveFrames<T extends Frame>(
  buffer: ArrayBuffer,
  decoder: (buffer: ArrayBuffer) => T[],
  handle: (frame: T) => void,
  fail: (reason: string, err: unknown) => void,
): void {
  let batch: T[];
  try {
    batch = decoder(buffer);
  } catch (err) {
    fail('frame batch did not decode', err);
    return;
  }
  for (const frame of batch) {
    try {
      handle(frame);
    } catch (err) {
      fail(`frame ${frame.kind} failed`, err);
    }
  }
}

/**
 * One end of a frame channel: a worker's MessagePort, its parentPort or the Worker itself, or an
 * end of an InProcessChannel (the single-thread simulation). Buffers are transferred, not copied.
 */
export interface FramePort {
  postMessage(buffer: ArrayBuffer, transfer: ArrayBuffer[]): void;
  on(event: 'message', listener: (buffer: ArrayBuffer) => void): unknown;
  /** Runs `flush` once this turn's frames are in; without it, setImmediate (threads). */
  defer?(flush: () => void): void;
}

/** Collects frames during one event-loop turn and hands them over as one transferred buffer. */
export class FrameBatcher<T extends Frame> {
  private pending: T[] = [];
  private scheduled = false;
  /** Frames pushed so far; against the frames the receiver took, what waits for it (a queue depth). */
  pushedFrames = 0;
  private readonly defer: (flush: () => void) => void;

  constructor(private readonly port: FramePort) {
    const defer = port.defer?.bind(port);
    this.defer = defer ?? setImmediate;
  }

  push(frame: T): void {
    this.pushedFrames++;
    this.pending.push(frame);
    if (this.pending.length >= MAX_FRAMES_PER_BATCH) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.defer(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const buffer = encodeFrames(batch);
    this.port.postMessage(buffer, [buffer]);
  }
}
