// The README's transaction example runs, and the README shows exactly the code that runs.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example } from './readme-example.snippet.js';
import { startTestNode, type TestNode } from './helpers.js';
import { defined } from '../../src/util/assert.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.stop());

function snippetAsPublished(): string {
  const source = readFileSync(new URL('./readme-example.snippet.ts', import.meta.url), 'utf8');
  const match = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme/.exec(source);
  if (!match) throw new Error('readme region not found in the snippet');
  return defined(match[1], 'match[1]').replace("from '../../src/client/index.js'", "from 'tinykv/client'");
}

describe('README transaction example', () => {
  it('runs and moves the money', async () => {
    expect(await example(t.addr)).toEqual({ alice: 70, bob: 80 });
  });

  it.each(['../../src/client/README.md', '../../README.md'])('is shown verbatim in %s', (path) => {
    const readme = readFileSync(new URL(path, import.meta.url), 'utf8');
    const code = snippetAsPublished();
    expect(code).toContain("from 'tinykv/client'");
    expect(readme).toContain(code);
  });
});
