/**
 * The top-level folders of src/ form layers: no two of them import each other, directly or
 * through others, so each can be read (and changed) knowing only the folders below it. Every
 * import counts, `import type` included: a type import still means a folder knows another's
 * shape, and a cycle through types is the same tangle for a reader as one through values.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCycles, folderGraph, importGraph, moduleSpecifiers, type ImportGraph } from './import-graph.js';

const SRC = join(import.meta.dirname, '../../src');

function graphOf(edges: Record<string, string[]>): ImportGraph {
  return new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));
}

/** What `tinykv/raft` may import from outside src/raft. */
const RAFT_MAY_IMPORT: ReadonlySet<string> = new Set(['proto/eraftpb.ts', 'util/errors.ts']);

describe('import graph of src/', () => {
  const files = importGraph(SRC);

  it('has no cycle between top-level folders', () => {
    const cycles = findCycles(folderGraph(files)).map((cycle) => cycle.join(' -> '));
    expect(cycles, `folder cycles: ${cycles.join('; ')}`).toEqual([]);
  });

  it('src/raft imports nothing outside src/raft but the Raft messages it speaks (proto/eraftpb) and the error base', () => {
    expect(files.size).toBeGreaterThan(50);
    const outside: string[] = [];
    for (const [from, targets] of files) {
      if (!from.startsWith('raft/')) continue;
      for (const to of targets) if (!to.startsWith('raft/') && !RAFT_MAY_IMPORT.has(to)) outside.push(`${from} -> ${to}`);
    }
    expect(outside).toEqual([]);
    // Both exceptions must stay leaves (eraftpb is generated protobuf code; the error base imports
    // nothing), or they would let the rest of the project into the Raft library.
    for (const leaf of RAFT_MAY_IMPORT) expect([leaf, ...(files.get(leaf) ?? ['missing'])]).toEqual([leaf]);
  });
});

describe('the checker itself', () => {
  it('reads static, type-only, re-exported and dynamic imports', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "const e = await import('./e.js');",
      "let f: import('./f.js').F;",
      "import 'node:fs';",
    ].join('\n');
    expect(moduleSpecifiers(text)).toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js', 'node:fs']);
  });

  it('finds a planted cycle between folders and names it', () => {
    const files = graphOf({
      'server/node.ts': ['scheduler/service.ts', 'server/util.ts'],
      'server/util.ts': [],
      'scheduler/service.ts': ['rpc/grpc.ts'],
      'rpc/grpc.ts': ['server/util.ts'],
      'util/errors.ts': [],
    });
    expect(findCycles(folderGraph(files))).toEqual([['rpc', 'server', 'scheduler', 'rpc']]);
  });

  it('finds a direct two-folder cycle and each separate cycle once', () => {
    const folders = graphOf({ a: ['b'], b: ['a'], c: ['d'], d: ['e'], e: ['c'], f: ['a'] });
    expect(findCycles(folders)).toEqual([
      ['a', 'b', 'a'],
      ['c', 'd', 'e', 'c'],
    ]);
  });

  it('passes a layered graph, ignoring imports inside one folder', () => {
    const files = graphOf({ 'a/x.ts': ['a/y.ts', 'b/z.ts'], 'a/y.ts': ['a/x.ts'], 'b/z.ts': ['c/w.ts'], 'c/w.ts': [] });
    expect(findCycles(folderGraph(files))).toEqual([]);
  });
});
