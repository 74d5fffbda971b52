import { describe, expect, it } from 'vitest';
import { checkRegister, type RegisterOp } from './linearizability.js';

const put = (value: string, invoke: number, response: number): RegisterOp => ({ kind: 'put', value, invoke, response });
const get = (value: string | undefined, invoke: number, response: number): RegisterOp => ({ kind: 'get', value, invoke, response });

describe('register linearizability checker', () => {
  it('accepts a sequential history and overlapping ops in either order', () => {
    expect(checkRegister([put('a', 0, 1), get('a', 2, 3)]).ok).toBe(true);
    expect(checkRegister([put('a', 0, 10), get('a', 1, 2), get(undefined, 3, 4)]).ok).toBe(false);
    expect(checkRegister([put('a', 0, 10), get(undefined, 1, 2), get('a', 3, 4)]).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    expect(checkRegister([put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)]).ok).toBe(false);
  });

  it('lets a write with an unknown outcome take effect late, or never', () => {
    expect(checkRegister([put('a', 0, Infinity), get(undefined, 1, 2), get('a', 3, 4)]).ok).toBe(true);
    expect(checkRegister([put('a', 0, Infinity), get(undefined, 5, 6)]).ok).toBe(true);
    expect(checkRegister([put('a', 0, Infinity), get('a', 3, 4), get(undefined, 5, 6)]).ok).toBe(false);
  });

  it('decides histories with many unanswered writes that no read saw', () => {
    const history: RegisterOp[] = [put('a', 0, 1)];
    for (let i = 0; i < 60; i++) history.push(put(`lost${i}`, 2 + i, Infinity));
    history.push(get('a', 70, 71), put('b', 72, 73), get('b', 74, 75));
    expect(checkRegister(history).ok).toBe(true);
    expect(checkRegister([...history, get('a', 76, 77)]).ok).toBe(false);
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(checkRegister([put('a', 0, 1), get('z', 2, 3)]).ok).toBe(false);
  });
});
