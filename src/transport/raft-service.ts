/**
 * Server side of TinyKv/Raft, TinyKv/BatchRaft and TinyKv/Snapshot: hands received messages to
 * the store. Raft and BatchRaft messages stay encoded (see `rawRaftService`): the store routes
 * them by region id and the raft poller decodes them.
 */
import type { ServerErrorResponse, ServerReadableStream, ServiceDefinition, sendUnaryData } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Done, RaftMessage, type SnapshotChunk } from '../proto/raft_serverpb.js';
import { TinyKvService } from '../proto/tinykvpb.js';
import { toServiceError } from '../rpc/error-status.js';
import { keepRequestBytes } from '../rpc/wire-format.js';
import { ErrorCode, TinyKvError, type ErrorCodeValue } from '../util/errors.js';
import { splitBatch } from '../raftstore/raft-wire.js';
import type { SnapshotRecvBudget } from './snapshot-receiver.js';
import type { Logger } from 'pino';

/** The TinyKv service with Raft and BatchRaft requests left as bytes. */
export const rawRaftService = {
  ...TinyKvService,
  raft: { ...TinyKvService.raft, requestDeserialize: keepRequestBytes },
  batchRaft: { ...TinyKvService.batchRaft, requestDeserialize: keepRequestBytes },
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

/**
 * TinyKv/Snapshot: a RaftMessage chunk, then data chunks, assembled and delivered once the stream
 * ends. Every stream holds a slot of `budget` and its buffered bytes count against it; a stream
 * over a bound gets RESOURCE_EXHAUSTED, a stalled one DEADLINE_EXCEEDED, and either way its bytes
 * are let go at once. What the snapshot contains is checked by the store (snapshot-check.ts).
 */
export function snapshotStreamHandler(deliver: (message: RaftMessage) => void, budget: SnapshotRecvBudget, logger?: Logger) {
  const { limits } = budget;
  return (call: ServerReadableStream<SnapshotChunk, Done>, callback: sendUnaryData<Done>) => {
    if (!budget.openStream()) {
      callback(refusal(ErrorCode.SnapshotRecvBusy, `already receiving ${limits.maxConcurrent} snapshots`), null);
      return;
    }
    const startMs = performance.now();
    let head: RaftMessage | undefined;
    let chunks: Buffer[] = [];
    let sizeBytes = 0;
    let finished = false;
    const finish = (err?: Partial<ServerErrorResponse>) => {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      clearTimeout(deadlineTimer);
      budget.closeStream(sizeBytes);
      chunks = [];
      if (err) callback(err, null);
    };
    const timeOut = (what: string) => () => {
      finish(refusal(ErrorCode.SnapshotRecvTimeout, what));
    };
    const idleTimer = setTimeout(timeOut(`snapshot stream idle for ${limits.idleTimeoutMs} ms`), limits.idleTimeoutMs);
    const deadlineTimer = setTimeout(timeOut(`snapshot stream not done in ${limits.timeoutMs} ms`), limits.timeoutMs);
    call.on('data', (chunk: SnapshotChunk) => {
      if (finished) return;
      idleTimer.refresh();
      if (chunk.message) {
        head = chunk.message;
        return;
      }
      if (!head) {
        finish(refusal(ErrorCode.InvalidArgument, 'snapshot data before its message'));
        return;
      }
      const chunkBytes = chunk.data.length;
      if (sizeBytes + chunkBytes > limits.maxSizeBytes) {
        finish(refusal(ErrorCode.SnapshotTooLarge, `snapshot exceeds ${limits.maxSizeBytes} bytes`));
        return;
      }
      if (!budget.reserve(chunkBytes)) {
        finish(refusal(ErrorCode.SnapshotRecvBusy, `snapshots being received exceed ${limits.maxTotalSizeBytes} bytes`));
        return;
      }
      sizeBytes += chunkBytes;
      chunks.push(chunk.data);
    });
    call.on('end', () => {
      if (finished) return;
      const snapshot = head?.message?.snapshot;
      if (!head || !snapshot) {
        finish(refusal(ErrorCode.InvalidArgument, 'snapshot stream without a snapshot message'));
        return;
      }
      const message = RaftMessage.fromPartial({
        ...head,
        message: { ...head.message, snapshot: { ...snapshot, data: Buffer.concat(chunks, sizeBytes) } },
      });
      finish();
      logger?.info(receivedFields(head, sizeBytes, performance.now() - startMs), 'snapshot received');
      deliver(message);
      callback(null, Done.fromPartial({}));
    });
    // The sender went away (cancelled, reset): its bytes go now.
    call.on('cancelled', () => finish());
    call.on('close', () => finish());
    call.on('error', () => finish());
  };
}

function receivedFields(head: RaftMessage, sizeBytes: number, durationMs: number) {
  const index = head.message?.snapshot?.metadata?.index;
  return { regionId: head.regionId, fromStore: head.fromPeer?.storeId, sizeBytes, index, durationMs: Math.round(durationMs) };
}

function refusal(code: ErrorCodeValue, message: string): Partial<ServerErrorResponse> {
  return toServiceError(new TinyKvError(code, message));
}
