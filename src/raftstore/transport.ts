/**
 * What the raftstore needs from a transport to other stores. The raftstore owns these interfaces
 * and src/transport implements them, so the dependency points one way (transport -> raftstore).
 */
import type { RaftMessage } from '../proto/raft_serverpb.js';

export interface Transport {
  /** Sends to the store of `message.toPeer`; may drop (Raft retries). */
  send(message: RaftMessage): void;
  /** Hands what was sent so far onward now, when the transport batches (before a blocking write). */
  flush?(): void;
}

/** A transport that also takes messages already encoded (the main thread forwards pollers' bytes undecoded). */
export interface EncodedTransport extends Transport {
  sendEncoded(toStoreId: number, message: Uint8Array): void;
}
