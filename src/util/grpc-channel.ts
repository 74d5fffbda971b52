/**
 * Channel options every long-lived gRPC client of ours uses (store to store, store to scheduler,
 * the client library to stores and scheduler). gRPC's own reconnect backoff starts at 1 s and grows
 * by 1.6x up to 120 s, and a call made while a channel waits it out fails at once: after a peer was
 * down for a minute, it stayed unreachable for up to another minute after it came back. Capping the
 * backoff at about an election timeout lets a restarted store or scheduler be reached within a second.
 */
export const RECONNECT_BACKOFF_MAX_MS = 1_000;

export const RECONNECT_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MAX_MS,
} as const;
