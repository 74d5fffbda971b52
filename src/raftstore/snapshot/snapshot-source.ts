/**
 * Where a leader's region snapshots come from. Building one reads the whole region, so in a
 * server it happens on the region-snapshot worker thread (a piscina pool running
 * workers/region-snapshot.ts) and Raft is told "temporarily unavailable" until it is ready, as in
 * TinyKV; in the deterministic single-thread mode it is built inline.
 */
import { Packr } from 'msgpackr';
import type { Engine } from '../../engine/engine.js';
import type { LmdbEngineOptions } from '../../engine/lmdb-engine.js';
import { Snapshot } from '../../proto/eraftpb.js';
import { ErrSnapshotTemporarilyUnavailable } from '../../raft/index.js';
import { buildRegionSnapshot, buildRegionSnapshotPayload, type SnapshotPayload } from './snapshot-data.js';

export interface SnapshotSource {
  /** A snapshot of the region at its applied index, or throws ErrSnapshotTemporarilyUnavailable while one is built. */
  snapshot(regionId: number, termOf: (index: number) => number, truncatedIndex: number): Snapshot;
}

export class InlineSnapshotSource implements SnapshotSource {
  constructor(private readonly kv: Engine) {}

  snapshot(regionId: number, termOf: (index: number) => number): Snapshot {
    return buildRegionSnapshot(this.kv, regionId, termOf);
  }
}

/** One region's snapshot to build from the kv environment (opened with the store's options). */
export interface SnapshotTask {
  readonly kv: LmdbEngineOptions;
  readonly regionId: number;
}

/** Runs one snapshot task; in production a piscina pool (see workers/region-snapshot.ts). */
export type SnapshotTaskRunner = (task: SnapshotTask) => Promise<Uint8Array>;

/** Frames between the store and the snapshot worker: msgpack, moved as transferable buffers. */
export const snapshotFramer = new Packr({ useRecords: false });

export class PooledSnapshotSource implements SnapshotSource {
  private readonly building = new Map<number, Promise<void>>();
  private readonly built = new Map<number, SnapshotPayload>();

  constructor(
    private readonly kv: LmdbEngineOptions,
    private readonly run: SnapshotTaskRunner,
    private readonly onError: (regionId: number, err: unknown) => void,
  ) {}

  snapshot(regionId: number, termOf: (index: number) => number, truncatedIndex: number): Snapshot {
    const payload = this.built.get(regionId);
    if (payload) {
      this.built.delete(regionId);
      // A snapshot older than the log's start is useless to a follower that needs one; build anew.
      if (payload.appliedIndex >= truncatedIndex) {
        const term = payload.appliedIndex === payload.truncatedIndex ? payload.truncatedTerm : termOf(payload.appliedIndex);
        return Snapshot.fromPartial({
          data: Buffer.from(payload.data),
          metadata: { index: payload.appliedIndex, term, confState: { nodes: payload.nodes } },
        });
      }
    }
    if (!this.building.has(regionId)) {
      const task = this.run({ kv: this.kv, regionId }).then(
        (frame) => {
          this.built.set(regionId, snapshotFramer.unpack(frame) as SnapshotPayload);
        },
        (err: unknown) => this.onError(regionId, err),
      );
      this.building.set(
        regionId,
        task.finally(() => this.building.delete(regionId)),
      );
    }
    throw new ErrSnapshotTemporarilyUnavailable();
  }

  /** Builds a payload in this thread (what the worker runs). */
  static buildFrame(kv: Engine, regionId: number): Uint8Array {
    return snapshotFramer.pack(buildRegionSnapshotPayload(kv, regionId));
  }
}
