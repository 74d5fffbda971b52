/**
 * gRPC server options shared by store servers and the scheduler: message size bounds, a bound on
 * concurrent streams per HTTP/2 connection, and the server-wide quota on unsent response bytes.
 */
import type { ServerOptions } from '@grpc/grpc-js';
import { ResponseMemoryQuota, responseQuotaInterceptor } from './response-quota.js';

export const DEFAULT_MAX_CONCURRENT_STREAMS = 1024;
export const DEFAULT_GRPC_MEMORY_QUOTA_BYTES = 128 * 1024 * 1024;

export interface GrpcServerBounds {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  /** Streams (calls) one HTTP/2 connection may have open at once; more are refused by HTTP/2. */
  readonly maxConcurrentStreams: number;
  /** Unary response bytes the server may hold unsent across all calls. */
  readonly memoryQuotaBytes: number;
}

export function boundedServerOptions(bounds: GrpcServerBounds): { options: ServerOptions; quota: ResponseMemoryQuota } {
  const quota = new ResponseMemoryQuota(bounds.memoryQuotaBytes);
  return {
    quota,
    options: {
      'grpc.max_receive_message_length': bounds.maxReceiveMessageBytes,
      'grpc.max_send_message_length': bounds.maxSendMessageBytes,
      'grpc.max_concurrent_streams': bounds.maxConcurrentStreams,
      interceptors: [responseQuotaInterceptor(quota)],
    },
  };
}
