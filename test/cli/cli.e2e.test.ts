// End to end: real `tinykv` processes on loopback, killed with SIGKILL and restarted.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const servers: ServerProcess[] = [];
const dirs: Array<ReturnType<typeof tempDir>> = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) d.cleanup();
});

async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(['--standalone', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn']);
  servers.push(server);
  return server;
}

function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

describe('tinykv CLI end to end', () => {
  it('serves ctl raw put/get/scan/delete in table and json output', async () => {
    const server = await start(newDir());
    const at = ['--addr', server.addr];
    expect((await runCli(['ctl', 'raw', 'put', 'hello', 'world', ...at])).stdout.trim()).toBe('OK');
    expect((await runCli(['ctl', 'raw', 'put', 'help', 'me', ...at])).code).toBe(0);
    const get = await runCli(['ctl', 'raw', 'get', 'hello', ...at]);
    expect([get.code, get.stdout.trim()]).toEqual([0, 'world']);
    const json = JSON.parse((await runCli(['ctl', 'raw', 'get', 'hello', '--output', 'json', ...at])).stdout);
    expect(json).toEqual({ key: 'hello', found: true, value: 'world' });
    const scan = JSON.parse((await runCli(['ctl', 'raw', 'scan', 'hel', '--limit', '5', '--output', 'json', ...at])).stdout);
    expect(scan).toEqual([
      { key: 'hello', value: 'world' },
      { key: 'help', value: 'me' },
    ]);
    const table = await runCli(['ctl', 'raw', 'scan', '--limit', '1', ...at]);
    expect(table.stdout).toContain('KEY');
    expect(table.stdout).toContain('(1 pairs)');
    expect((await runCli(['ctl', 'raw', 'delete', 'hello', ...at])).code).toBe(0);
    const missing = await runCli(['ctl', 'raw', 'get', 'hello', ...at]);
    expect([missing.code, missing.stdout.trim()]).toEqual([1, '(not found)']);
    const hex = await runCli(['ctl', 'raw', 'get', '68656c70', '--encoding', 'hex', ...at]);
    expect(hex.stdout.trim()).toBe('6d65');
  });

  it('reports a server-side error clearly, exit code 1', async () => {
    const server = await start(newDir());
    const result = await runCli(['ctl', 'raw', 'put', 'k', 'v', '--cf', 'bogus', '--addr', server.addr]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('KV:Server:UnknownColumnFamily');
    // Raw writes to the transaction families are refused unless the server allows them.
    const txnFamily = await runCli(['ctl', 'raw', 'put', 'k', 'v', '--cf', 'write', '--addr', server.addr]);
    expect(txnFamily.code).toBe(1);
    expect(txnFamily.stderr).toContain('KV:Server:RawWriteToTxnFamily');
  });

  it('--allow-raw-txn-cf-writes lets ctl raw put write the write family', async () => {
    const server = await startServerProcess([
      '--standalone',
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      newDir(),
      '--log-level',
      'warn',
      '--allow-raw-txn-cf-writes',
    ]);
    servers.push(server);
    const at = ['--addr', server.addr, '--cf', 'write'];
    expect((await runCli(['ctl', 'raw', 'put', 'k', 'v', ...at])).code).toBe(0);
    expect((await runCli(['ctl', 'raw', 'get', 'k', ...at])).stdout.trim()).toBe('v');
  });

  it('exits 2 with a clear message on invalid config', async () => {
    const dir = newDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/bad.toml`, '[storage]\nengine = "rocksdb"\n');
    const badFile = await runCli(['server', '--config', `${dir}/bad.toml`, '--data-dir', dir]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain('storage.engine must be one of lmdb, memory');
    const badAddr = await runCli(['server', '--addr', 'nowhere', '--data-dir', dir]);
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toContain('invalid address');
    const badFlag = await runCli(['server', '--no-such-flag']);
    expect(badFlag.code).toBe(2);
    // The raft timing flags go through the same validation as the file's keys.
    const badTicks = await runCli(['server', '--raft-election-timeout-ticks', '2', '--raft-heartbeat-ticks', '2', '--data-dir', dir]);
    expect(badTicks.code).toBe(2);
    expect(badTicks.stderr).toContain('raftstore.raft-election-timeout-ticks must be above raftstore.raft-heartbeat-ticks');
    // So do the split thresholds; `tinykv cluster` refuses a size that does not read as one before starting anything.
    const badSplit = await runCli(['server', '--region-max-size', '1KiB', '--region-split-size', '2KiB', '--data-dir', dir]);
    expect(badSplit.code).toBe(2);
    expect(badSplit.stderr).toContain('raftstore.region-split-size must be 1 byte..raftstore.region-max-size');
    const badSize = await runCli(['server', '--region-max-size', 'huge', '--data-dir', dir]);
    expect(badSize.code).toBe(2);
    const badDown = await runCli(['server', '--max-peer-down-duration', 'soon', '--data-dir', dir]);
    expect(badDown.code).toBe(2);
    expect(badDown.stderr).toContain('expected a duration');
    const shortDown = await runCli(['server', '--max-peer-down-duration', '1ms', '--data-dir', dir]);
    expect(shortDown.code).toBe(2);
    expect(shortDown.stderr).toContain('raftstore.max-peer-down-duration must be raftstore.raft-base-tick-interval..168h');
    const badClusterSize = await runCli(['cluster', '--region-split-size', 'half', '--data-dir', dir]);
    expect(badClusterSize.code).toBe(2);
    expect(badClusterSize.stderr).toContain('--region-split-size must be a size');
  });

  it('shuts down on SIGTERM with exit 0 and keeps data across a restart', async () => {
    const dataDir = newDir();
    const first = await start(dataDir);
    expect((await runCli(['ctl', 'raw', 'put', 'kept', 'yes', '--addr', first.addr])).code).toBe(0);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await start(dataDir);
    expect((await runCli(['ctl', 'raw', 'get', 'kept', '--addr', second.addr])).stdout.trim()).toBe('yes');
  });

  it('refuses a second server on the same data directory', async () => {
    const dataDir = newDir();
    await start(dataDir);
    const second = await runCli(['server', '--addr', '127.0.0.1:0', '--data-dir', dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('is in use by process');
  });

  it('loses no acknowledged write across kill -9', async () => {
    const dataDir = newDir();
    const first = await start(dataDir);
    const client = await connect({ node: first.addr, requestTimeoutMs: 5_000, maxRetries: 0 });
    const acknowledged: string[] = [];
    let stop = false;
    // 16 writers put distinct keys until the server dies under them.
    const writers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        try {
          await client.put(key, `value-${key}`);
          acknowledged.push(key);
        } catch {
          return;
        }
      }
    });
    while (acknowledged.length < 600) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    await first.exited;
    stop = true;
    await Promise.all(writers);
    await client.close();

    const second = await start(dataDir);
    const check = await connect({ node: second.addr, maxRetries: 0 });
    try {
      const missing: string[] = [];
      for (let i = 0; i < acknowledged.length; i += 200) {
        const batch = acknowledged.slice(i, i + 200);
        const values = await Promise.all(batch.map((k) => check.get(k)));
        values.forEach((v, j) => {
          if (v?.toString() !== `value-${batch[j]}`) missing.push(defined(batch[j], 'batch[j]'));
        });
      }
      expect(acknowledged.length).toBeGreaterThanOrEqual(600);
      expect(missing).toEqual([]);
    } finally {
      await check.close();
    }
  });
});
