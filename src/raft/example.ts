import { MemoryStorage, RawNode, type Message } from './index.js';

/** Runs three Raft nodes in memory, commits `count` proposals, returns what each node applied. */
export function runThreeNodeExample(count = 3): Map<number, string[]> {
  const ids = [1, 2, 3];
  const storages = new Map<number, MemoryStorage>();
  const nodes = new Map<number, RawNode>();
  const applied = new Map<number, string[]>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    storages.set(id, storage);
    applied.set(id, []);
    nodes.set(id, new RawNode({
      id, peers: ids, electionTick: 10, heartbeatTick: 1, storage, preVote: true, checkQuorum: true,
    }));
  }
  const network: Message[] = [];

  // The Ready loop: persist, send, apply, advance (in that order).
  const handleReady = (id: number): void => {
    const node = nodes.get(id)!;
    const storage = storages.get(id)!;
    while (node.hasReady()) {
      const rd = node.ready();
      if (rd.snapshot) storage.applySnapshot(rd.snapshot);
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      network.push(...rd.messages);
      for (const entry of rd.committedEntries) {
        if (entry.data.length > 0) applied.get(id)!.push(entry.data.toString());
      }
      node.advance(rd);
    }
  };
  // Deliver messages until the cluster is quiet.
  const settle = (): void => {
    ids.forEach(handleReady);
    while (network.length > 0) {
      const msg = network.shift()!;
      nodes.get(msg.to)!.step(msg);
      handleReady(msg.to);
    }
  };

  nodes.get(1)!.campaign();
  settle();
  const leader = nodes.get(1)!;
  if (leader.status().state !== 'Leader') throw new Error('node 1 should have won the election');
  for (let i = 0; i < count; i++) leader.propose(Buffer.from(`put k${i}=v${i}`));
  settle();
  leader.tick(); // a heartbeat round carries the final commit index to followers
  settle();
  return applied;
}
