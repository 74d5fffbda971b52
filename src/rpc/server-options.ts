/**
 * How every gRPC server of ours (stores, standalone nodes, the scheduler) is built: message size
 * bounds, a bound on concurrent streams per HTTP/2 connection, the server-wide quota on unsent
 * response bytes, requests checked against the protobuf wire format before they are decoded, and a
 * bind whose failure names the address.
 */
import { ServerCredentials, type Server, type ServerOptions, type ServiceDefinition } from '@grpc/grpc-js';
import { listenError } from './listen-error.js';
import { acceptingEncodedResponses, ResponseMemoryQuota, responseQuotaInterceptor } from './response-quota.js';
import { checkedService, rejectMalformedRequests } from './wire-format.js';

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
      interceptors: [responseQuotaInterceptor(quota), rejectMalformedRequests],
    },
  };
}

/** `service` as a bounded server serves it: requests wire-checked, responses counted once encoded. */
export function boundedService<S extends ServiceDefinition>(service: S): S {
  return checkedService(acceptingEncodedResponses(service));
}

/** Binds `server` (insecure); a refused address becomes one clear error naming it. */
export function bindServer(server: Server, addr: string): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, ServerCredentials.createInsecure(), (err, port) => (err ? reject(listenError(addr, err)) : resolve(port))),
  );
}
