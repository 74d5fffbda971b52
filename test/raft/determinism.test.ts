import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSeed } from './sim/run.js';

const RAFT_DIR = join(import.meta.dirname, '../../src/raft');
const FORBIDDEN: [RegExp, string][] = [
  [/from\s+['"]node:/, 'node: import'],
  [/require\(/, 'require()'],
  [/\bDate\./, 'Date.'],
  [/new Date\b/, 'new Date'],
  [/\bperformance\./, 'performance.'],
  [/\bsetTimeout\b/, 'setTimeout'],
  [/\bsetInterval\b/, 'setInterval'],
  [/\bsetImmediate\b/, 'setImmediate'],
  [/\bqueueMicrotask\b/, 'queueMicrotask'],
  [/Math\.random/, 'Math.random'],
  [/\bprocess\./, 'process.'],
  [/\bhrtime\b/, 'hrtime'],
  [/\bcrypto\b/, 'crypto'],
  [/\bawait\b|\basync\b/, 'async code'],
];

function sourceFiles(): string[] {
  return readdirSync(RAFT_DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(RAFT_DIR, f));
}

describe('determinism', () => {
  it('src/raft uses no I/O, clock, timers, threads or Math.random', () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThanOrEqual(10);
    const offences: string[] = [];
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, k) => {
        const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
        for (const [re, what] of FORBIDDEN) if (re.test(code)) offences.push(`${file}:${k + 1}: ${what}`);
      });
    }
    expect(offences).toEqual([]);
  });

  it('the checker itself catches a forbidden call', () => {
    const sample = 'const t = Date.now(); setTimeout(f, 1);';
    expect(FORBIDDEN.filter(([re]) => re.test(sample)).map(([, what]) => what)).toEqual(['Date.', 'setTimeout']);
  });

  it('a simulation replays identically from its seed', () => {
    const a = runSeed(12345, { trace: true, rounds: 150 });
    const b = runSeed(12345, { trace: true, rounds: 150 });
    expect(b.stats).toEqual(a.stats);
    expect(b.checks).toBe(a.checks);
    expect(a.stats.delivered).toBeGreaterThan(100);
    const c = runSeed(12346, { rounds: 150 });
    expect(c.stats).not.toEqual(a.stats);
  });
});
