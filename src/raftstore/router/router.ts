/**
 * What the server needs from a store, whether its peers run on this thread (Store, the
 * single-thread mode) or on raft poller threads (PollerRouter, the batch system).
 */
import type { Peer, Region } from '../../proto/metapb.js';
import type { RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import type { RaftMessage } from '../../proto/raft_serverpb.js';
import type { CommandCallback } from './command-callback.js';
import type { ThreadSnapshot } from '../../metrics/thread-metrics.js';

export interface LeaderRegion {
  readonly region: Region;
  readonly leader: Peer;
  /** Followers behind the leader's truncated index: only a snapshot can catch them up. */
  readonly pendingPeers: readonly Peer[];
  /** Followers the leader has not heard from for raftstore.max-peer-down-duration. */
  readonly downPeers: readonly DownPeer[];
}

export interface DownPeer {
  readonly peer: Peer;
  /** At least max-peer-down-duration; how the store measures beyond that is its own (see its leaderRegions). */
  readonly downSeconds: number;
}

/**
 * Withdraws a command its caller no longer waits for (it timed out): the callback is dropped and
 * never called, and an answer that comes later is discarded. The command itself may still apply.
 */
export type CancelCommand = () => void;

/** For a command nothing outside its peer waits on (the peer answers or fails every proposal). */
export const NOTHING_TO_CANCEL: CancelCommand = () => {};

export interface RaftRouter {
  readonly storeId: number;
  /**
   * Routes a command to its region's peer; the callback answers it (region errors included),
   * unless the returned function cancelled it first.
   */
  propose(request: RaftCmdRequest, callback: CommandCallback): CancelCommand;
  onRaftMessage(message: RaftMessage): void;
  /** An encoded RaftMessage from the network (routed without decoding where the peers run elsewhere). */
  onRaftMessageBytes(message: Uint8Array): void;
  /** One raft base tick for every peer. */
  tick(): void;
  /** Writes a bootstrap region's initial state and starts its peer. */
  createRegion(region: Region): Promise<void>;
  regions(): Region[];
  regionForKey(key: Uint8Array): Region | undefined;
  /** Regions whose peer here leads, for scheduler heartbeats. */
  leaderRegions(): LeaderRegion[];
  /**
   * Commands waiting for an answer from the store's threads (where it keeps count: the threaded
   * store does); store heartbeats report the store busy past BUSY_PENDING_COMMANDS.
   */
  readonly pendingCommands?: number;
  /** Reads served on the calling thread from leader leases, and ones it passed on because a lease ended (batch/local-reader.ts). */
  readonly localReads?: { readonly served: number; readonly expired: number };
  /**
   * A snapshot of the raftstore metrics of each thread the store runs its peers on, for
   * registerThreadMetrics (src/metrics/thread-metrics.ts); the stores of this process have it.
   */
  metricsSnapshots?(): Promise<ThreadSnapshot[]>;
  stop(): Promise<void>;
}
