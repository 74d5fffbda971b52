/**
 * `tinykv/raft`: a pure, deterministic Raft library for Node.js.
 *
 * The consensus core does no I/O and reads no clock: you feed it ticks and
 * messages through a {@link RawNode}, and it hands back a {@link Ready} with
 * entries and hard state to persist, messages to send, and committed entries
 * to apply. Wire types are TinyKV's `eraftpb` protobuf messages.
 *
 * Indexes and terms are plain JavaScript numbers: they are exact up to
 * 2^53 - 1 (`Number.MAX_SAFE_INTEGER`); the protobuf decoder throws above that.
 * At a million entries per second that bound is reached after ~285 years.
 *
 * See `src/raft/README.md` for a guide and a three-node example.
 *
 * @packageDocumentation
 */
export { RawNode } from './raw-node.js';
export type { Ready, SoftState, RawNodeOptions, ProgressInfo, Status } from './raw-node.js';
export { Raft, NONE, CampaignKind, DEFAULT_MAX_INFLIGHT_MSGS, DEFAULT_MAX_SIZE_PER_MSG_BYTES, isEmptyHardState, newMessage } from './raft.js';
export type { RaftConfig, StateType, CampaignKindValue } from './raft.js';
export { MemoryStorage, ENTRY_OVERHEAD_BYTES, entrySizeBytes, isEmptySnapshot, snapshotIndex, snapshotTerm } from './storage.js';
export type { Storage, InitialState } from './storage.js';
export {
  RaftError,
  ErrCompacted,
  ErrUnavailable,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrProposalDropped,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrInvalidConfig,
} from './errors.js';
export type { RaftErrorCode } from './errors.js';
export { RaftInvariantError, MAX_INDEX } from './assert.js';
export type { ReadState } from './read-only.js';
export { MAX_PENDING_READS } from './read-only.js';
export type { ProgressStateType } from './progress.js';
export { RaftLog } from './log.js';
export { Progress, ProgressTracker, Inflights } from './progress.js';
export { mulberry32, SeededRandom } from './rng.js';
export type { RandomSource } from './rng.js';
export {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from '../proto/eraftpb.js';
