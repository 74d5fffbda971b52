/**
 * TinyKV's Storage interface over a Store: writes become Put/Delete raft commands, readers come
 * from a ReadIndex-confirmed Snap of the region, bounded to its range. Region errors are thrown as
 * RegionError, which the gRPC handlers put in the response's region_error.
 */
import type { Context } from '../proto/kvrpcpb.js';
import { CmdType, RaftCmdRequest, type RaftCmdResponse, type Request } from '../proto/raft_cmdpb.js';
import type { DataColumnFamily } from '../engine/engine.js';
import { EngineReader } from './engine-reader.js';
import type { DbIterator, Modify, Storage, StorageReader } from './storage.js';
import { compareBytes } from '../util/bytes.js';
import type { Region } from '../proto/metapb.js';
import { keyNotInRegion, RegionError, regionNotFound } from '../raftstore/router/errors.js';
import type { CommandResult } from '../raftstore/router/command-callback.js';
import { findPeerOnStore, keyInRegion, epochOf } from '../raftstore/region.js';
import type { RaftRouter } from '../raftstore/router/router.js';

/** A request header this storage always fills in. */
type RaftCmdHeader = NonNullable<RaftCmdRequest['header']>;

/** The one request of a read command (shared: commands are read, never changed). */
const SNAP_REQUEST: Request = { cmdType: CmdType.Snap, get: undefined, put: undefined, delete: undefined, snap: {} };

/** What a node learns from the writes going through its storage. */
export interface RaftKvStorageHooks {
  /** A write of `sizeBytes` (keys and values) to the region was applied on this node, its leader (the split checker's hint). */
  onWrite?(regionId: number, sizeBytes: number): void;
}

export class RaftKvStorage implements Storage {
  constructor(
    private readonly store: RaftRouter,
    private readonly timeoutMs = 10_000,
    private readonly hooks: RaftKvStorageHooks = {},
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async write(context: Context | undefined, batch: readonly Modify[]): Promise<void> {
    if (batch.length === 0) return;
    const requests: Request[] = batch.map((m) =>
      m.type === 'put'
        ? { cmdType: CmdType.Put, get: undefined, put: { cf: m.cf, key: m.key, value: m.value }, delete: undefined, snap: undefined }
        : { cmdType: CmdType.Delete, get: undefined, put: undefined, delete: { cf: m.cf, key: m.key }, snap: undefined },
    );
    const header = this.header(context, batch[0]?.key);
    const result = await this.execute(header, requests);
    checkResponse(result.response);
    // Counted once applied (the answer comes after the leader applied it), as TiKV counts its
    // split-check size diff at apply: counted at proposal, a write still in flight when the region
    // was checked was neither in the check nor counted towards the next one, and a region could
    // stay past its max size with no further check (the 3B one-split scenario, under load).
    if (this.hooks.onWrite) {
      let sizeBytes = 0;
      for (const m of batch) sizeBytes += m.key.length + (m.type === 'put' ? m.value.length : 0);
      this.hooks.onWrite(header.regionId, sizeBytes);
    }
  }

  async reader(context: Context | undefined, keyHint?: Buffer): Promise<StorageReader> {
    const result = await this.execute(this.header(context, keyHint), [SNAP_REQUEST]);
    checkResponse(result.response);
    const region = result.response.responses[0]?.snap?.region;
    if (!result.snapshot || !region) throw new Error('snap command returned no snapshot');
    return new RegionReader(new EngineReader(result.snapshot), region);
  }

  private header(context: Context | undefined, keyHint: Buffer | undefined): RaftCmdHeader {
    let regionId = Number(context?.regionId ?? 0n);
    // Without a region in the context (ctl, simple clients), route by key to this store's region.
    if (regionId === 0) {
      const region = keyHint ? this.store.regionForKey(keyHint) : this.store.regions()[0];
      if (!region) throw regionNotFound(0);
      regionId = region.id;
      return { regionId, peer: findPeerOnStore(region, this.store.storeId), regionEpoch: epochOf(region), term: 0 };
    }
    return { regionId, peer: context?.peer, regionEpoch: context?.regionEpoch, term: Number(context?.term ?? 0n) };
  }

  private execute(header: RaftCmdHeader, requests: Request[]): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let answered = false;
      // Every field set, as the decoder would: the command is built once and read, never copied.
      const command: RaftCmdRequest = { header, requests, adminRequest: undefined };
      const cancel = this.store.propose(command, (result) => {
        answered = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(result);
      });
      // A read served from a leader lease is answered inside propose: no timer for it.
      if (answered) return;
      timer = setTimeout(() => {
        // Nobody waits for the answer any more: the router forgets the command (it may still apply).
        cancel();
        reject(new RegionError({ ...regionNotFound(header.regionId).regionError, message: 'raft command timed out' }));
      }, this.timeoutMs);
    });
  }
}

function checkResponse(response: RaftCmdResponse): void {
  const error = response.header?.error;
  if (error) throw new RegionError(error);
}

/** A reader limited to one region: point reads outside it are KeyNotInRegion; iteration stops at its end. */
export class RegionReader implements StorageReader {
  constructor(
    private readonly inner: StorageReader,
    readonly region: Region,
  ) {}

  getCF(cf: DataColumnFamily, key: Uint8Array): Buffer | undefined {
    if (!keyInRegion(key, this.region)) throw keyNotInRegion(Buffer.from(key), this.region);
    return this.inner.getCF(cf, key);
  }

  iterCF(cf: DataColumnFamily): DbIterator {
    return new RegionIterator(this.inner.iterCF(cf), this.region);
  }

  close(): void {
    this.inner.close();
  }
}

class RegionIterator implements DbIterator {
  constructor(
    private readonly inner: DbIterator,
    private readonly region: Region,
  ) {
    this.seek(region.startKey);
  }

  seek(key: Uint8Array): void {
    this.inner.seek(compareBytes(key, this.region.startKey) < 0 ? this.region.startKey : key);
  }

  valid(): boolean {
    if (!this.inner.valid()) return false;
    return this.region.endKey.length === 0 || compareBytes(this.inner.key(), this.region.endKey) < 0;
  }

  key(): Buffer {
    return this.inner.key();
  }

  value(): Buffer {
    return this.inner.value();
  }

  next(): void {
    this.inner.next();
  }

  close(): void {
    this.inner.close();
  }
}
