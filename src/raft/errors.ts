/**
 * Typed errors of the Raft library. Every error carries a stable `code`
 * (`Raft:<Area>:<Name>`) that callers may switch on; messages are for humans.
 * They share TinyKV's one error base, whose module imports nothing, so the core stays pure.
 */
import { TinyKvError } from '../util/errors.js';

/** Stable error codes. Never renamed; new codes may be added. */
export type RaftErrorCode =
  | 'Raft:Storage:Compacted'
  | 'Raft:Storage:Unavailable'
  | 'Raft:Storage:SnapOutOfDate'
  | 'Raft:Storage:SnapshotTemporarilyUnavailable'
  | 'Raft:ProposalDropped'
  | 'Raft:StepLocalMsg'
  | 'Raft:StepPeerNotFound'
  | 'Raft:InvalidConfig'
  | 'Raft:Invariant';

/** Base class of every error thrown by `tinykv/raft`. */
export class RaftError extends TinyKvError {
  declare readonly code: RaftErrorCode;

  /** `retryable`: true when retrying the same call later may succeed. */
  constructor(code: RaftErrorCode, message: string, retryable = false) {
    super(code, message, {}, { retryable });
  }
}

/** The requested index is older than the storage's first index (compacted away). */
export class ErrCompacted extends RaftError {
  constructor(message = 'requested index is unavailable due to compaction') {
    super('Raft:Storage:Compacted', message);
  }
}

/** The requested index is newer than the storage's last index. */
export class ErrUnavailable extends RaftError {
  constructor(message = 'requested entry at index is unavailable') {
    super('Raft:Storage:Unavailable', message);
  }
}

/** The snapshot being applied or created is older than the existing one. */
export class ErrSnapOutOfDate extends RaftError {
  constructor(message = 'requested index is older than the existing snapshot') {
    super('Raft:Storage:SnapOutOfDate', message);
  }
}

/** Storage is still generating a snapshot; Raft retries later. */
export class ErrSnapshotTemporarilyUnavailable extends RaftError {
  constructor(message = 'snapshot is temporarily unavailable') {
    super('Raft:Storage:SnapshotTemporarilyUnavailable', message, true);
  }
}

/**
 * A proposal (or read request) was not accepted: this node is not the leader,
 * a leader transfer is in progress, or a conf change is already pending.
 */
export class ErrProposalDropped extends RaftError {
  constructor(message = 'raft proposal dropped') {
    super('Raft:ProposalDropped', message, true);
  }
}

/** `RawNode.step` was given a local message (MsgHup, MsgBeat). */
export class ErrStepLocalMsg extends RaftError {
  constructor(message = 'raft: cannot step raft local message') {
    super('Raft:StepLocalMsg', message);
  }
}

/** `RawNode.step` was given a response from a peer that is not in the configuration. */
export class ErrStepPeerNotFound extends RaftError {
  constructor(message = 'raft: cannot step as peer not found') {
    super('Raft:StepPeerNotFound', message);
  }
}

/** The RawNode options are invalid. */
export class ErrInvalidConfig extends RaftError {
  constructor(message: string) {
    super('Raft:InvalidConfig', message);
  }
}
