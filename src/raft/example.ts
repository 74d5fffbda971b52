import { MemoryStorage, RawNode, type Message } from './index.js';

/** Runs three Raft nodes in memory, commits `count` proposals, returns what each node applied. */
export function runThreeNodeExample(count = 3): Map<number, string[]> {
  const ids = [1, 2, 3];
  const peers = new Map<number, { node: RawNode; storage: MemoryStorage; applied: string[] }>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    const node = new RawNode({
      id,
      peers: ids,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      preVote: true,
      checkQuorum: true,
    });
    peers.set(id, { node, storage, applied: [] });
  }
  const peer = (id: number) => {
    const found = peers.get(id);
    if (found === undefined) throw new Error(`no node ${id}`);
    return found;
  };
  const network: Message[] = [];

  // The Ready loop: persist, send, apply, advance (in that order).
  const handleReady = (id: number): void => {
    const { node, storage, applied } = peer(id);
    while (node.hasReady()) {
      const rd = node.ready();
      if (rd.snapshot) storage.applySnapshot(rd.snapshot);
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      network.push(...rd.messages);
      for (const entry of rd.committedEntries) {
        if (entry.data.length > 0) applied.push(entry.data.toString());
      }
      node.advance(rd);
    }
  };
  // Deliver messages until the cluster is quiet.
  const settle = (): void => {
    ids.forEach(handleReady);
    for (let msg = network.shift(); msg !== undefined; msg = network.shift()) {
      peer(msg.to).node.step(msg);
      handleReady(msg.to);
    }
  };

  const leader = peer(1).node;
  leader.campaign();
  settle();
  if (leader.status().state !== 'Leader') throw new Error('node 1 should have won the election');
  for (let i = 0; i < count; i++) leader.propose(Buffer.from(`put k${i}=v${i}`));
  settle();
  leader.tick(); // a heartbeat round carries the final commit index to followers
  settle();
  return new Map(ids.map((id) => [id, peer(id).applied]));
}
