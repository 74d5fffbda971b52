/**
 * What the operators in flight will change on each store once done (PD's OpInfluence). Schedulers
 * add it to a store's reported counts: without it, every round until the stores report the moves
 * sees the old imbalance and adds more operators the same way, overshooting (a leader balance of
 * 4:0 turned into 0:4 in one burst of four transfers, then back).
 */
import type { RegionInfo } from '../cluster-state.js';
import { regionScoreSizeBytes } from '../cluster-state.js';
import type { Operator } from './operator.js';

export interface StoreInfluence {
  regionCount: number;
  regionSizeBytes: number;
  leaderCount: number;
}

export const NO_INFLUENCE: Readonly<StoreInfluence> = Object.freeze({ regionCount: 0, regionSizeBytes: 0, leaderCount: 0 });

/** Per store, the effect of the steps not yet seen done of every operator in `operators`. */
export function influenceOf(operators: readonly Operator[], regionOf: (regionId: number) => RegionInfo | undefined): Map<number, StoreInfluence> {
  const out = new Map<number, StoreInfluence>();
  const at = (storeId: number): StoreInfluence => {
    let influence = out.get(storeId);
    if (!influence) out.set(storeId, (influence = { regionCount: 0, regionSizeBytes: 0, leaderCount: 0 }));
    return influence;
  };
  for (const op of operators) {
    const region = regionOf(op.regionId);
    const sizeBytes = region ? regionScoreSizeBytes(region) : 0;
    for (const step of op.steps.slice(op.stepIndex)) {
      switch (step.type) {
        case 'add-peer':
          at(step.toStore).regionCount++;
          at(step.toStore).regionSizeBytes += sizeBytes;
          break;
        case 'remove-peer':
          at(step.fromStore).regionCount--;
          at(step.fromStore).regionSizeBytes -= sizeBytes;
          break;
        case 'transfer-leader':
          at(step.fromStore).leaderCount--;
          at(step.toStore).leaderCount++;
          break;
        case 'split-region':
          break;
      }
    }
  }
  return out;
}
