// The default fatal action: one `fatal` line with the reason reaches stderr (pino writes
// asynchronously, so it is flushed first), then the process exits with code 70.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FATAL_EXIT_CODE } from '../../src/util/fail-stop.js';

const dist = (path: string) => pathToFileURL(resolve('dist/src', path)).href;

function runScript(script: string): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('fail-stop', () => {
  it('logs one fatal line with the reason and exits 70', () => {
    const { status, stderr } = runScript(`
      import { createLogger } from '${dist('log/logger.js')}';
      import { exitOnFatal } from '${dist('util/fail-stop.js')}';
      const fatal = exitOnFatal(createLogger('info'));
      // Keep the event loop busy: the exit must not wait for it.
      setInterval(() => {}, 1000);
      fatal('raft poller 0 failed', new Error('Input/output error'));
      fatal('a second report', new Error('ignored'));
    `);
    expect(status).toBe(FATAL_EXIT_CODE);
    const lines = stderr.split('\n').filter((line) => line.includes('"level":60'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line.msg).toBe('fatal: raft poller 0 failed; stopping the process');
    expect(line.err.message).toBe('Input/output error');
  });
});
