// Which data ranges a destroyed peer clears: its own range minus what other live regions own.
import { describe, expect, it } from 'vitest';
import { rangesOverlap, rangesToClear, type KeyRange } from '../../src/raftstore/peer/peer-destroy.js';

const r = (start: string, end: string): KeyRange => ({ startKey: Buffer.from(start), endKey: Buffer.from(end) });
const show = (ranges: KeyRange[]) => ranges.map((x) => `${x.startKey.toString()}-${x.endKey.toString()}`);

describe('peer destroy ranges', () => {
  it('clears the whole range when nothing else lives in it', () => {
    expect(show(rangesToClear(r('b', 'k'), [r('k', 'z'), r('', 'a')]))).toEqual(['b-k']);
  });

  it('keeps the parts other live regions own', () => {
    expect(show(rangesToClear(r('a', 'z'), [r('m', 'p'), r('c', 'e')]))).toEqual(['a-c', 'e-m', 'p-z']);
    expect(show(rangesToClear(r('a', ''), [r('m', '')]))).toEqual(['a-m']);
    expect(show(rangesToClear(r('', ''), [r('', 'c'), r('x', '')]))).toEqual(['c-x']);
    expect(rangesToClear(r('c', 'e'), [r('a', 'z')])).toEqual([]);
  });

  it('tells overlapping ranges, with empty end keys unbounded', () => {
    expect(rangesOverlap(r('a', 'c'), r('c', 'e'))).toBe(false);
    expect(rangesOverlap(r('a', 'd'), r('c', 'e'))).toBe(true);
    expect(rangesOverlap(r('a', ''), r('x', 'y'))).toBe(true);
    expect(rangesOverlap(r('', 'b'), r('b', ''))).toBe(false);
  });
});
