/** Server side of TinyKv/Raft and TinyKv/Snapshot: hands received messages to the store. */
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Done, RaftMessage, type SnapshotChunk } from '../proto/raft_serverpb.js';

export const SNAPSHOT_MAX_BYTES = 1024 * 1024 * 1024;

export function raftStreamHandler(deliver: (message: RaftMessage) => void) {
  return (call: ServerReadableStream<RaftMessage, Done>, callback: sendUnaryData<Done>) => {
    call.on('data', (message: RaftMessage) => deliver(message));
    call.on('end', () => callback(null, Done.fromPartial({})));
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
