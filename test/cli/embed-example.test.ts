// The README's embedding example is examples/embed.ts, verbatim; this runs the compiled copy.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('embedding example', () => {
  it('appears verbatim in the README', () => {
    const example = readFileSync('examples/embed.ts', 'utf8').trim();
    expect(readFileSync('README.md', 'utf8')).toContain(example);
  });

  it('runs: starts a node in-process, writes, reads back, stops cleanly', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/examples/embed.js'], { timeout: 30_000 });
    expect(stdout.trim()).toBe('hello from an embedded node');
  });
});
