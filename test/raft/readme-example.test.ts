import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runThreeNodeExample } from '../../src/raft/example.js';

const dir = join(import.meta.dirname, '../../src/raft');

describe('README example', () => {
  it('the README contains src/raft/example.ts verbatim (importing tinykv/raft)', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const example = readFileSync(join(dir, 'example.ts'), 'utf8');
    expect(example).toContain("from './index.js'");
    const published = example.replace("from './index.js'", "from 'tinykv/raft'");
    expect(readme).toContain('```ts\n' + published + '```');
  });

  it('runs: three nodes elect a leader and apply the same proposals in order', () => {
    const applied = runThreeNodeExample(5);
    const want = [0, 1, 2, 3, 4].map((i) => `put k${i}=v${i}`);
    expect([...applied.keys()]).toEqual([1, 2, 3]);
    for (const entries of applied.values()) expect(entries).toEqual(want);
  });
});
