// docs/errors.md is the table of stable error codes: every code the source defines is listed there,
// and nothing listed there has gone from the source.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defined } from '../../src/util/assert.js';

const CODE = /['"`]((?:KV|Raft):[A-Za-z]+(?::[A-Za-z]+)?)['"`]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'proto' || name === 'proto-gen' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function codesIn(text: string): Set<string> {
  return new Set(Array.from(text.matchAll(CODE), (match) => defined(match[1], 'match[1]')));
}

describe('docs/errors.md', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  const documented = codesIn(doc);
  // The product's code and the bench (`tinykv bench`) raise coded errors.
  const defined = new Set([...sourceFiles('src'), ...sourceFiles('bench')].flatMap((file) => [...codesIn(readFileSync(file, 'utf8'))]));

  it('lists every error code the source defines', () => {
    expect([...defined].filter((code) => !documented.has(code)).sort()).toEqual([]);
  });

  it('lists no code the source no longer has', () => {
    expect([...documented].filter((code) => !defined.has(code)).sort()).toEqual([]);
  });
});
