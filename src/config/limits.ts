/** Request bounds. Every bound is documented in tinykv.example.toml and checked at the edge. */
import { ENGINE_MAX_KEY_SIZE_BYTES } from '../engine/engine.js';

export interface Limits {
  /** Largest user key accepted by any RPC. */
  readonly maxKeySizeBytes: number;
  /** Largest value accepted by RawPut. */
  readonly maxValueSizeBytes: number;
  /** Largest RawScan limit. */
  readonly maxScanLimit: number;
  /** A RawScan or KvScan stops early once its pairs add up to this many bytes (clients page by last key). */
  readonly maxScanResponseBytes: number;
  /** Largest gRPC message the server receives or sends. */
  readonly maxMessageSizeBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxKeySizeBytes: 1024,
  maxValueSizeBytes: 1024 * 1024,
  maxScanLimit: 10_000,
  maxScanResponseBytes: 4 * 1024 * 1024,
  maxMessageSizeBytes: 8 * 1024 * 1024,
};

/**
 * Keys grow when the transaction layer encodes them (memcomparable groups of 8 plus a 9th byte,
 * then an 8-byte timestamp), so a user key must stay well under the engine's hard bound.
 */
export const MAX_CONFIGURABLE_KEY_SIZE_BYTES = Math.floor(((ENGINE_MAX_KEY_SIZE_BYTES - 16) * 8) / 9);
