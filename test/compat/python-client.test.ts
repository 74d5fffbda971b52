// Wire compatibility: a TinyKV client written independently in Python (its own message
// declarations with TinyKV's field numbers) uses every Raw RPC against our server.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { tempDir } from '../helpers/tmp.js';

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

async function pythonHasGrpc(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  try {
    await run(PYTHON, ['-c', 'import grpc, google.protobuf']);
    return true;
  } catch {
    return false;
  }
}

// CI installs python3-grpcio in .ci/run; elsewhere the test says plainly why it did not run.
const available = await pythonHasGrpc();
if (!available && process.env.CI) throw new Error('CI must provide python3-grpcio and python3-protobuf (see .ci/run)');

describe.runIf(available)('a Python TinyKV client (python3-grpcio)', () => {
  let node: TinyKvNode;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    dir = tempDir();
    // The script puts into the write family as TinyKV's project-1 clients may; allow it.
    node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger(), allowRawTxnCfWrites: true });
  });
  afterAll(async () => {
    await node.close();
    dir.cleanup();
  });

  it('uses RawPut, RawGet, RawScan and RawDelete', async () => {
    const { stdout } = await run(PYTHON, ['test/compat/tinykv_raw_client.py', node.addr], { timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({
      get: { value: Buffer.from('\x00\x01alpha', 'latin1').toString('hex'), not_found: false },
      get_write_cf: 'gamma',
      scan: [
        ['py-a', Buffer.from('\x00\x01alpha', 'latin1').toString('hex')],
        ['py-b', Buffer.from('beta').toString('hex')],
      ],
      after_delete: { not_found: true, value: '' },
      bad_cf: 'INVALID_ARGUMENT',
    });
  });
});
