import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** A module's imports of other files in the tree, as paths relative to the root given to `importGraph`. */
export type ImportGraph = Map<string, Set<string>>;

function listTsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTsFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/**
 * Every module specifier a file names: static imports and re-exports (`import type` too: a type
 * import still means one folder knows the other's shape), dynamic `import()` and `import('x').T`.
 */
export function moduleSpecifiers(sourceText: string): string[] {
  const file = ts.createSourceFile('x.ts', sourceText, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) found.push(lit.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Relative imports of every .ts file under `root`, resolved (`./x.js` names `./x.ts`). */
export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const path of listTsFiles(root)) {
    const targets = new Set<string>();
    for (const spec of moduleSpecifiers(readFileSync(path, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(path), spec).replace(/\.js$/, '.ts');
      targets.add(relative(root, target).split(sep).join('/'));
    }
    graph.set(relative(root, path).split(sep).join('/'), targets);
  }
  return graph;
}

/** The first path segment of a file under the root: its top-level folder, or '.' for a root file. */
export function topFolder(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? '.' : path.slice(0, slash);
}

/** Collapses a file graph to its top-level folders; edges inside one folder and to outside the root are dropped. */
export function folderGraph(graph: ImportGraph): ImportGraph {
  const folders: ImportGraph = new Map();
  for (const [from, targets] of graph) {
    const a = topFolder(from);
    const edges = folders.get(a) ?? new Set<string>();
    folders.set(a, edges);
    for (const to of targets) {
      const b = topFolder(to);
      if (b !== a && b !== '..' && !to.startsWith('../')) edges.add(b);
    }
  }
  return folders;
}

/**
 * Every cycle of a graph, one per strongly connected component with more than one node (Tarjan),
 * each reported as a closed path through that component (`a -> b -> a`), so a failure names it.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const strongConnect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (;;) {
      const w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) components.push(component);
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strongConnect(v);
  return components.map((c) => closedPath(graph, new Set(c)));
}

/** A closed path through a strongly connected component, found by breadth-first search back to its first node. */
function closedPath(graph: ImportGraph, component: Set<string>): string[] {
  const start = [...component].sort()[0] ?? '';
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() ?? '';
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [v];
        for (let p = parent.get(v); p !== undefined; p = parent.get(p)) path.unshift(p);
        return [...path, start];
      }
      if (!parent.has(w) && w !== start) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
