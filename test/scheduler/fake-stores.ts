/**
 * Fake stores for a real scheduler: each registers over gRPC (AllocID + PutStore), sends
 * StoreHeartbeats, and reports the regions it leads on its own RegionHeartbeat stream. The
 * commands the scheduler answers with are recorded and, when asked, carried out on the model
 * (a peer added or removed, the leader moved, a split with ids from AskSplit), the way a real
 * store's raftstore would, so the next heartbeat shows the step done.
 */
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { Peer, Region, Store, StoreState } from '../../src/proto/metapb.js';
import type { RegionHeartbeatResponse } from '../../src/proto/schedulerpb.js';
import { SchedulerClient, type RegionHeartbeatStream } from '../../src/client/scheduler-client.js';
import type { SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { compareBytes } from '../../src/util/bytes.js';
import { defined } from '../../src/util/assert.js';

export const MIB = 1024 * 1024;

export function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

interface FakeRegion {
  region: Region;
  leaderStoreId: number;
  sizeBytes: number;
}

export class FakeStore {
  readonly commands: RegionHeartbeatResponse[] = [];
  readonly stream: RegionHeartbeatStream;

  constructor(
    readonly id: number,
    client: SchedulerClient,
  ) {
    this.stream = client.openRegionHeartbeat((response) => this.commands.push(response));
  }

  commandsFor(regionId: number): RegionHeartbeatResponse[] {
    return this.commands.filter((c) => Number(c.regionId) === regionId);
  }
}

export class FakeCluster {
  readonly stores = new Map<number, FakeStore>();
  readonly regions = new Map<number, FakeRegion>();

  private constructor(
    readonly scheduler: SchedulerHandle,
    readonly client: SchedulerClient,
  ) {}

  static async connect(scheduler: SchedulerHandle): Promise<FakeCluster> {
    const client = await SchedulerClient.connect(scheduler.addr, { timeoutMs: 3_000, maxRetries: 2 });
    return new FakeCluster(scheduler, client);
  }

  close(): void {
    for (const store of this.stores.values()) store.stream.close();
    this.client.close();
  }

  /** Registers a store with an allocated id; before bootstrap too (scheduler-driven bootstrap counts them). */
  async addStore(): Promise<FakeStore> {
    const id = await this.client.allocId();
    await this.client.putStore(Store.fromPartial({ id, address: `127.0.0.1:${30000 + id}`, state: StoreState.Up }));
    const store = new FakeStore(id, this.client);
    this.stores.set(id, store);
    return store;
  }

  store(id: number): FakeStore {
    return defined(this.stores.get(id), `fake store ${id}`);
  }

  /** `flow`: what the store's clients wrote and read over a 10 s interval (none by default). */
  async storeHeartbeat(storeId: number, flow: { readonly keysWritten?: number; readonly keysRead?: number } = {}): Promise<void> {
    const regionCount = [...this.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === storeId)).length;
    const keysWritten = flow.keysWritten ?? 0;
    const keysRead = flow.keysRead ?? 0;
    await this.client.storeHeartbeat({
      keysWritten: BigInt(keysWritten),
      bytesWritten: BigInt(keysWritten * 100),
      keysRead: BigInt(keysRead),
      bytesRead: BigInt(keysRead * 100),
      interval: { startTimestamp: 1_700_000_000n, endTimestamp: 1_700_000_010n },
      storeId: BigInt(storeId),
      capacity: 100n * 1024n * BigInt(MIB),
      available: 60n * 1024n * BigInt(MIB),
      usedSize: 40n * 1024n * BigInt(MIB),
      regionCount,
      startTime: 1_700_000_000,
    });
  }

  /** Takes over the regions the scheduler bootstrapped, leaders on `leaderOf(index)`. */
  adoptRegions(leaderOf: (index: number, region: Region) => number, sizeBytes = 16 * MIB): void {
    const regions = [...this.scheduler.core.state.allRegions()].map((info) => info.region);
    regions.forEach((region, index) => {
      this.regions.set(region.id, { region: Region.fromPartial(region), leaderStoreId: leaderOf(index, region), sizeBytes });
    });
  }

  region(id: number): FakeRegion {
    return defined(this.regions.get(id), `fake region ${id}`);
  }

  /** The leader reports the region and the scheduler has taken it in. */
  async report(regionId: number): Promise<void> {
    const fake = this.region(regionId);
    const leader = defined(
      fake.region.peers.find((p) => p.storeId === fake.leaderStoreId),
      `leader peer of region ${regionId}`,
    );
    const sent = this.store(fake.leaderStoreId).stream.send({
      region: fake.region,
      leader,
      approximateSizeBytes: fake.sizeBytes,
      approximateKeys: 1000,
    });
    if (!sent) throw new Error(`store ${fake.leaderStoreId} has no open heartbeat stream`);
    const epoch = defined(fake.region.regionEpoch, 'epoch');
    await until(() => {
      const info = this.scheduler.core.state.getRegionById(regionId);
      const known = info?.region.regionEpoch;
      return info?.leader?.id === leader.id && known?.confVer === epoch.confVer && known.version === epoch.version;
    }, `region ${regionId} heartbeat accepted`);
  }

  async reportAll(): Promise<void> {
    for (const id of this.regions.keys()) await this.report(id);
  }

  /** Carries out a scheduler command the way a store would: the model changes, nothing is reported yet. */
  async apply(command: RegionHeartbeatResponse): Promise<void> {
    const fake = this.region(Number(command.regionId));
    const region = fake.region;
    const epoch = defined(region.regionEpoch, 'epoch');
    if (command.changePeer) {
      const peer = defined(command.changePeer.peer, 'change_peer peer');
      const peers =
        command.changePeer.changeType === ConfChangeType.AddNode
          ? [...region.peers, Peer.fromPartial(peer)]
          : region.peers.filter((p) => p.id !== peer.id);
      fake.region = Region.fromPartial({ ...region, peers, regionEpoch: { confVer: epoch.confVer + 1, version: epoch.version } });
    } else if (command.transferLeader) {
      fake.leaderStoreId = defined(command.transferLeader.peer, 'transfer_leader peer').storeId;
    } else if (command.splitRegion) {
      await this.split(fake, command.splitRegion.keys[0] ?? this.middleKey(region));
    }
  }

  /** One round: the leader reports, and the command it gets back (if any) is carried out. True when a command came. */
  async drive(regionId: number): Promise<boolean> {
    const leaderStore = this.store(this.region(regionId).leaderStoreId);
    const before = leaderStore.commandsFor(regionId).length;
    await this.report(regionId);
    const running = () => this.scheduler.core.operators.getRunning(regionId) !== undefined;
    await until(() => !running() || leaderStore.commandsFor(regionId).length > before, `a command or the end of region ${regionId}'s operator`);
    const command = leaderStore.commandsFor(regionId)[before];
    if (command === undefined) return false;
    await this.apply(command);
    return true;
  }

  /** Drives the region until its operator ended, carrying out each command; the commands seen. */
  async driveToEnd(regionId: number, maxRounds = 10): Promise<RegionHeartbeatResponse[]> {
    const seen: RegionHeartbeatResponse[] = [];
    for (let round = 0; round < maxRounds; round++) {
      const store = this.store(this.region(regionId).leaderStoreId);
      const before = store.commandsFor(regionId).length;
      if (!(await this.drive(regionId))) return seen;
      seen.push(defined(store.commandsFor(regionId)[before], 'command'));
    }
    throw new Error(`region ${regionId}'s operator did not end in ${maxRounds} rounds`);
  }

  private middleKey(region: Region): Buffer {
    return Buffer.concat([Buffer.from(region.startKey), Buffer.from('m')]);
  }

  private async split(fake: FakeRegion, key: Buffer): Promise<void> {
    const region = fake.region;
    if (compareBytes(key, region.startKey) <= 0 || (region.endKey.length > 0 && compareBytes(key, region.endKey) >= 0)) {
      throw new Error(`split key outside region ${region.id}`);
    }
    const { newRegionId, newPeerIds } = await this.client.askSplit(region);
    const epoch = defined(region.regionEpoch, 'epoch');
    const nextEpoch = { confVer: epoch.confVer, version: epoch.version + 1 };
    fake.region = Region.fromPartial({ ...region, endKey: key, regionEpoch: nextEpoch });
    const peers = region.peers.map((p, i) => ({ id: defined(newPeerIds[i], 'split peer id'), storeId: p.storeId }));
    const child = Region.fromPartial({ id: newRegionId, startKey: key, endKey: region.endKey, regionEpoch: nextEpoch, peers });
    this.regions.set(newRegionId, { region: child, leaderStoreId: fake.leaderStoreId, sizeBytes: fake.sizeBytes / 2 });
    fake.sizeBytes /= 2;
  }
}
