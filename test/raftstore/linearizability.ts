import { defined } from '../../src/util/assert.js';
// A linearizability checker for one register (Wing & Gong search with memoisation), used on
// histories recorded by the simulated clusters. Writes whose outcome is unknown (timed out) may
// take effect at any point after their invocation, or never.

export interface RegisterOp {
  readonly kind: 'put' | 'get';
  /** The value written, or the value read (undefined = absent). */
  readonly value: string | undefined;
  /** Logical time the call started. */
  readonly invoke: number;
  /** Logical time the answer arrived; Infinity when it never did (puts only). */
  readonly response: number;
}

export interface CheckResult {
  readonly ok: boolean;
  /** When not ok: the ops, for the failure message. */
  readonly history?: readonly RegisterOp[];
}

const SEARCH_LIMIT = 2_000_000;

export function checkRegister(history: readonly RegisterOp[], initial: string | undefined = undefined): CheckResult {
  // A write with an unknown outcome that no read saw can always be left out: had it taken effect,
  // it was overwritten before any read. Dropping it keeps the verdict and shrinks the search, which
  // otherwise grows with every such write (a chaos run with long unavailability has many).
  const seen = new Set(history.filter((op) => op.kind === 'get').map((op) => op.value));
  const ops = history.filter((op) => op.kind === 'get' || op.response !== Infinity || seen.has(op.value)).sort((a, b) => a.invoke - b.invoke);
  const n = ops.length;
  if (n > 400) throw new Error(`history of ${n} ops is too long for the checker`);
  const done = new Set<string>();
  let steps = 0;

  const search = (linearized: bigint, value: string | undefined): boolean => {
    if (++steps > SEARCH_LIMIT) throw new Error('linearizability search limit reached');
    // Finished when every op left is a write that may never have happened.
    let allOptional = true;
    let minResponse = Infinity;
    for (let i = 0; i < n; i++) {
      if (linearized & (1n << BigInt(i))) continue;
      const op = defined(ops[i], 'ops[i]');
      if (op.response !== Infinity) allOptional = false;
      minResponse = Math.min(minResponse, op.response);
    }
    if (allOptional) return true;
    const key = `${linearized}:${value ?? '\u0000'}`;
    if (done.has(key)) return false;
    for (let i = 0; i < n; i++) {
      const bit = 1n << BigInt(i);
      if (linearized & bit) continue;
      const op = defined(ops[i], 'ops[i]');
      // Only an op that started before every pending op finished can go next.
      if (op.invoke > minResponse) continue;
      if (op.kind === 'get') {
        if (op.value === value && search(linearized | bit, value)) return true;
      } else if (search(linearized | bit, op.value)) {
        return true;
      }
    }
    done.add(key);
    return false;
  };

  return search(0n, initial) ? { ok: true } : { ok: false, history: ops };
}
