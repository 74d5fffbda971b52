/**
 * The region changes an apply thread makes, at info, written once they are durable: an operator
 * follows membership and key ranges through the log. Keys are hex (they are bytes).
 */
import type { Logger } from 'pino';
import { ConfChangeType } from '../../proto/eraftpb.js';
import type { Region } from '../../proto/metapb.js';
import type { AppliedConfChange } from '../operation/conf-change.js';
import type { AppliedSplit } from '../operation/split.js';

/** A conf change or split applied to a region, waiting for its batch's write. */
export type AdminChange =
  | { readonly kind: 'confChange'; readonly regionId: number; readonly change: AppliedConfChange }
  | { readonly kind: 'split'; readonly regionId: number; readonly split: AppliedSplit };

export function logAdminChange(logger: Logger, admin: AdminChange): void {
  if (admin.kind === 'confChange') {
    const { change } = admin;
    logger.info(
      {
        regionId: admin.regionId,
        changeType: ConfChangeType[change.changeType],
        peer: { id: change.peer.id, storeId: change.peer.storeId },
        confVer: change.region.regionEpoch?.confVer,
        peers: change.region.peers.map((p) => p.id),
      },
      'conf change applied',
    );
    return;
  }
  const { region, created } = admin.split;
  logger.info(
    {
      regionId: admin.regionId,
      splitKey: region.endKey.toString('hex'),
      left: rangeOf(region),
      // Absent when this store's peer of the new region was removed before the split applied here.
      right: created ? rangeOf(created) : undefined,
      version: region.regionEpoch?.version,
    },
    'split applied',
  );
}

function rangeOf(region: Region): { id: number; startKey: string; endKey: string } {
  return { id: region.id, startKey: region.startKey.toString('hex'), endKey: region.endKey.toString('hex') };
}
