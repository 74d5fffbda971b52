import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError, configFileKeys, DEFAULT_CONFIG, loadConfig, parseAddress } from '../../src/config/config.js';
import { parseDurationMs, parseSizeBytes } from '../../src/config/units.js';
import { tempDir } from '../helpers/tmp.js';

function withFile(text: string, run: (path: string) => void): void {
  const dir = tempDir();
  try {
    writeFileSync(`${dir.path}/c.toml`, text);
    run(`${dir.path}/c.toml`);
  } finally {
    dir.cleanup();
  }
}

describe('config', () => {
  it('the commented example file states exactly the defaults', () => {
    // raft-pollers depends on the machine's cores; the file states the 2-core default.
    expect(loadConfig({ configFile: 'tinykv.example.toml' })).toEqual({ ...DEFAULT_CONFIG, raftPollers: 1 });
  });

  it('the example file documents every key, in its section (set, or commented out when the default depends)', () => {
    const text = readFileSync('tinykv.example.toml', 'utf8');
    const sections = new Map<string, string>();
    for (const block of text.split(/^\[/m).slice(1)) sections.set(block.slice(0, block.indexOf(']')), block);
    const missing = configFileKeys().filter((name) => {
      const [section = '', key = ''] = name.split('.');
      return !new RegExp(`^(# )?${key} = `, 'm').test(sections.get(section) ?? '');
    });
    expect(configFileKeys().length).toBeGreaterThan(30);
    expect(missing).toEqual([]);
  });

  it('applies file, then environment, then overrides', () => {
    withFile('[server]\naddr = "127.0.0.1:1"\n[storage]\ndata-dir = "/from-file"\n[log]\nlevel = "debug"\n', (path) => {
      const config = loadConfig({
        configFile: path,
        env: { TINYKV_DATA_DIR: '/from-env', TINYKV_LOG_LEVEL: 'warn' },
        overrides: { logLevel: 'error' },
      });
      expect(config.addr).toBe('127.0.0.1:1');
      expect(config.dataDir).toBe('/from-env');
      expect(config.logLevel).toBe('error');
    });
  });

  it('reads the slow-client bounds from [server]', () => {
    withFile('[server]\nmax-concurrent-streams = 64\ngrpc-memory-quota = "64MiB"\n', (path) => {
      const config = loadConfig({ configFile: path });
      expect(config.maxConcurrentStreams).toBe(64);
      expect(config.grpcMemoryQuotaBytes).toBe(64 * 1024 * 1024);
    });
  });

  it('parses human sizes and durations', () => {
    expect(parseSizeBytes('1MiB')).toBe(1024 * 1024);
    expect(parseSizeBytes('4KB')).toBe(4000);
    expect(parseSizeBytes(512)).toBe(512);
    expect(parseSizeBytes('12 parsecs')).toBeUndefined();
    expect(parseDurationMs('10s')).toBe(10_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('soon')).toBeUndefined();
  });

  const invalid: Array<[string, string]> = [
    ['[server]\naddr = 5\n', 'server.addr must be a string'],
    ['[storage]\nengine = "rocksdb"\n', 'storage.engine must be one of'],
    ['[limits]\nmax-key-size = "4KiB"\n', 'limits.max-key-size must be'],
    ['[limits]\nmax-value-size = "1GiB"\n', 'limits.max-value-size must be'],
    ['[nope]\nx = 1\n', 'unknown section [nope]'],
    ['[server]\nadress = "x"\n', 'unknown key server.adress'],
    ['[server\n', 'not valid TOML'],
    ['[server]\ngraceful-shutdown-timeout = "forever"\n', 'must be a duration'],
    ['[server]\nmax-concurrent-streams = 0\n', 'server.max-concurrent-streams must be 1..65536'],
    ['[server]\ngrpc-memory-quota = "1MiB"\n', 'server.grpc-memory-quota must be at least server.max-message-size'],
    ['[raftstore]\nraft-store-max-leader-lease = "900ms"\n', 'raftstore.raft-store-max-leader-lease must be 0 (off) or under'],
  ];
  it.each(invalid)('rejects %j', (text, message) => {
    withFile(text, (path) => {
      expect(() => loadConfig({ configFile: path })).toThrow(ConfigError);
      expect(() => loadConfig({ configFile: path })).toThrow(message);
    });
  });

  it('takes a leader lease under the election timeout, or 0s to turn lease reads off', () => {
    withFile('[raftstore]\nraft-store-max-leader-lease = "500ms"\n', (path) =>
      expect(loadConfig({ configFile: path }).raftStoreMaxLeaderLeaseMs).toBe(500),
    );
    withFile('[raftstore]\nraft-store-max-leader-lease = "0s"\n', (path) =>
      expect(loadConfig({ configFile: path }).raftStoreMaxLeaderLeaseMs).toBe(0),
    );
    expect(DEFAULT_CONFIG.raftStoreMaxLeaderLeaseMs).toBeUndefined();
  });

  it('rejects a missing file and bad addresses', () => {
    expect(() => loadConfig({ configFile: '/no/such/file.toml' })).toThrow(/cannot read config file/);
    expect(() => parseAddress('localhost')).toThrow(ConfigError);
    expect(() => parseAddress('localhost:70000')).toThrow(ConfigError);
    expect(parseAddress('[::1]:20160')).toEqual({ host: '[::1]', port: 20160 });
  });
});
