/**
 * Checks on what stores tell the scheduler (PutStore addresses, region epochs, what a region
 * heartbeat says of its peers and size). Pure.
 *
 * The scheduler trusts what it stores: a junk address makes every store that resolves it fail to
 * connect, and an absurd epoch (say 2^53-1) recorded for a region makes the real leader's
 * heartbeats look stale forever. So both are refused at the door.
 */
import type { Peer, Region, RegionEpoch } from '../proto/metapb.js';
import { invalidArgument } from './errors.js';
import { quoteForError } from '../util/errors.js';

/**
 * Largest step a region's conf_ver or version may take between two heartbeats the scheduler
 * accepts. Both only move by one per split or conf change, and each of those needs the scheduler
 * (AskSplit ids, operators), so real steps are a handful; this bound keeps epochs far from 2^53
 * while leaving room for a region whose heartbeats were refused for a while.
 */
export const MAX_EPOCH_STEP = 10_000;

/** The longest address a store may register (a DNS name is at most 253 characters, plus a port). */
export const MAX_STORE_ADDRESS_LENGTH = 261;

/** A DNS label; `_` is allowed too, as container names (docker compose) use it. */
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

/**
 * A store address must be `host:port`: a DNS name or IPv4 address, or `[IPv6]`, and a port
 * 1..65535 in decimal. No scheme, path, spaces or control characters.
 */
export function checkStoreAddress(address: string): void {
  // The refused address is echoed cut short and quoted, like every other input in an error.
  const shown = quoteForError(address);
  const refuse = (why: string) => invalidArgument(`invalid store address ${shown}: ${why}`, { address: shown });
  if (address.length === 0) throw refuse('empty');
  if (address.length > MAX_STORE_ADDRESS_LENGTH) throw refuse(`longer than ${MAX_STORE_ADDRESS_LENGTH} characters`);
  const colon = address.lastIndexOf(':');
  if (colon <= 0) throw refuse('expected host:port');
  const host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) throw refuse('the port must be a number 1..65535');
  const port = Number(portText);
  if (port < 1 || port > 65_535) throw refuse('the port must be a number 1..65535');
  if (host.startsWith('[') && host.endsWith(']')) {
    const ip = host.slice(1, -1);
    if (!IPV6.test(ip) || !ip.includes(':')) throw refuse('bad IPv6 address');
    return;
  }
  if (IPV4.test(host)) return;
  if (/^[\d.]+$/.test(host)) throw refuse('bad IPv4 address');
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => HOST_LABEL.test(label))) {
    throw refuse('the host must be a DNS name, an IPv4 address or [IPv6]');
  }
}

/**
 * Refuses an epoch more than MAX_EPOCH_STEP ahead of `reference` (the region known with the same
 * id, else the regions it overlaps, else the highest epoch the scheduler has seen).
 */
export function checkEpochStep(regionId: number, epoch: RegionEpoch, reference: RegionEpoch): void {
  const tooFar = (got: number, known: number) => got > known + MAX_EPOCH_STEP;
  if (tooFar(epoch.confVer, reference.confVer) || tooFar(epoch.version, reference.version)) {
    throw invalidArgument(
      `region ${regionId} epoch {conf_ver:${epoch.confVer}, version:${epoch.version}} is more than ${MAX_EPOCH_STEP} ahead of ` +
        `{conf_ver:${reference.confVer}, version:${reference.version}}`,
      { regionId },
    );
  }
}

/** What a region heartbeat says beside its region and leader. */
export interface HeartbeatExtrasInput {
  readonly pendingPeers?: readonly Peer[];
  readonly downPeers?: readonly { readonly peer: Peer | undefined; readonly downSeconds: number }[];
  readonly approximateSizeBytes?: number;
  readonly approximateKeys?: number;
}

/**
 * Pending and down peers must be peers of the region (the per-store counts trust their store ids),
 * and sizes, key counts and down times whole numbers the scheduler can add up.
 */
export function checkHeartbeatExtras(region: Region, input: HeartbeatExtrasInput): void {
  const isMember = (peer: Peer | undefined) => peer !== undefined && region.peers.some((p) => p.id === peer.id && p.storeId === peer.storeId);
  for (const pending of input.pendingPeers ?? []) {
    if (!isMember(pending)) throw invalidArgument(`pending peer ${pending.id} is not a peer of region ${region.id}`, { regionId: region.id });
  }
  for (const down of input.downPeers ?? []) {
    if (!isMember(down.peer)) throw invalidArgument(`down peer ${down.peer?.id} is not a peer of region ${region.id}`, { regionId: region.id });
    checkCount(region.id, 'down seconds', down.downSeconds);
  }
  checkCount(region.id, 'approximate size', input.approximateSizeBytes);
  checkCount(region.id, 'approximate keys', input.approximateKeys);
}

function checkCount(regionId: number, what: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw invalidArgument(`region ${regionId} ${what} ${value} is out of range`, { regionId });
  }
}
