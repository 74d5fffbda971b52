/**
 * Server side of TinyKv/Raft, TinyKv/BatchRaft and TinyKv/Snapshot: hands received messages to
 * the store. Raft and BatchRaft messages stay encoded (see `rawRaftService`): the store routes
 * them by region id and the raft poller decodes them.
 */
import type { ServerReadableStream, ServiceDefinition, sendUnaryData } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Done, RaftMessage, type SnapshotChunk } from '../proto/raft_serverpb.js';
import { TinyKvService } from '../proto/tinykvpb.js';
import { splitBatch } from './raft-wire.js';

export const SNAPSHOT_MAX_BYTES = 1024 * 1024 * 1024;

const keepBytes = (bytes: Buffer): Buffer => bytes;

/** The TinyKv service with Raft and BatchRaft requests left as bytes. */
export const rawRaftService = {
  ...TinyKvService,
  raft: { ...TinyKvService.raft, requestDeserialize: keepBytes },
  batchRaft: { ...TinyKvService.batchRaft, requestDeserialize: keepBytes },
} as unknown as ServiceDefinition;

/** TinyKv/Raft: one encoded RaftMessage per stream message. */
export function raftStreamHandler(deliver: (message: Uint8Array) => void) {
  return (call: ServerReadableStream<Buffer, Done>, callback: sendUnaryData<Done>) => {
    call.on('data', (message: Buffer) => deliver(message));
    call.on('end', () => callback(null, Done.fromPartial({})));
    call.on('error', () => {});
  };
}

/** TinyKv/BatchRaft: an encoded BatchRaftMessage per stream message. */
export function batchRaftStreamHandler(deliver: (message: Uint8Array) => void) {
  return (call: ServerReadableStream<Buffer, Done>, callback: sendUnaryData<Done>) => {
    let failed = false;
    call.on('data', (batch: Buffer) => {
      if (failed) return;
      let messages: Uint8Array[];
      try {
        messages = splitBatch(batch);
      } catch {
        failed = true;
        callback({ code: GrpcStatus.INVALID_ARGUMENT, details: 'malformed BatchRaftMessage' }, null);
        return;
      }
      for (const message of messages) deliver(message);
    });
    call.on('end', () => {
      if (!failed) callback(null, Done.fromPartial({}));
    });
    call.on('error', () => {});
  };
}

export function snapshotStreamHandler(deliver: (message: RaftMessage) => void) {
  return (call: ServerReadableStream<SnapshotChunk, Done>, callback: sendUnaryData<Done>) => {
    let head: RaftMessage | undefined;
    const chunks: Buffer[] = [];
    let sizeBytes = 0;
    let failed = false;
    call.on('data', (chunk: SnapshotChunk) => {
      if (failed) return;
      if (chunk.message) {
        head = chunk.message;
        return;
      }
      sizeBytes += chunk.data.length;
      if (!head || sizeBytes > SNAPSHOT_MAX_BYTES) {
        failed = true;
        callback({ code: GrpcStatus.INVALID_ARGUMENT, details: head ? 'snapshot exceeds 1 GiB' : 'snapshot data before its message' }, null);
        return;
      }
      chunks.push(chunk.data);
    });
    call.on('end', () => {
      if (failed) return;
      if (!head?.message?.snapshot) {
        callback({ code: GrpcStatus.INVALID_ARGUMENT, details: 'snapshot stream without a snapshot message' }, null);
        return;
      }
      const message = RaftMessage.fromPartial({
        ...head,
        message: { ...head.message, snapshot: { ...head.message.snapshot, data: Buffer.concat(chunks, sizeBytes) } },
      });
      deliver(message);
      callback(null, Done.fromPartial({}));
    });
    call.on('error', () => {});
  };
}
