// The [raftstore] keys: read from the file, validated with messages naming the key, and the one
// derivation of the RaftstoreConfig that stores run with.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, loadConfig, type ConfigOverrides } from '../../src/config/config.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import { raftstoreConfigOf } from '../../src/server/raftstore-config.js';
import { tempDir } from '../helpers/tmp.js';

function fromFile(text: string) {
  const dir = tempDir();
  try {
    writeFileSync(`${dir.path}/c.toml`, text);
    return loadConfig({ configFile: `${dir.path}/c.toml` });
  } finally {
    dir.cleanup();
  }
}

describe('raftstore config', () => {
  it('derives the raftstore defaults from the node defaults', () => {
    expect(raftstoreConfigOf(DEFAULT_CONFIG)).toEqual(DEFAULT_RAFTSTORE_CONFIG);
  });

  it('reads every [raftstore] tuning key and hands it to the raftstore', () => {
    const config = fromFile(
      [
        '[raftstore]',
        'raft-base-tick-interval = "50ms"',
        'raft-election-timeout-ticks = 20',
        'raft-heartbeat-ticks = 4',
        'raft-log-gc-count-limit = 500',
        'raft-log-gc-tick-interval = "3s"',
        'raft-max-size-per-msg = "256KiB"',
        'raft-max-inflight-msgs = 64',
        'raft-max-pending-proposals = 100',
        'scheduler-connect-timeout = "5s"',
        'pd-heartbeat-tick-interval = "1s"',
        'pd-store-heartbeat-tick-interval = "20s"',
        'region-max-size = "300KiB"',
        'region-split-size = "200KiB"',
        'split-region-check-tick-interval = "2s"',
        'max-peer-down-duration = "30s"',
        '',
      ].join('\n'),
    );
    expect(raftstoreConfigOf(config)).toEqual({
      raftBaseTickMs: 50,
      raftElectionTimeoutTicks: 20,
      raftHeartbeatTicks: 4,
      raftLogGcCountLimit: 500,
      raftLogGcTickInterval: 60,
      maxSizePerMsgBytes: 256 * 1024,
      maxInflightMsgs: 64,
      maxPendingProposals: 100,
      regionMaxSizeBytes: 300 * 1024,
      regionSplitSizeBytes: 200 * 1024,
      splitRegionCheckTickInterval: 40,
      maxPeerDownTicks: 600,
    });
    expect(config.schedulerConnectTimeoutMs).toBe(5_000);
    expect(config.regionHeartbeatIntervalMs).toBe(1_000);
    expect(config.storeHeartbeatIntervalMs).toBe(20_000);
  });

  it('keeps log GC at 10 ticks when only the tick changes, and rounds an interval to whole ticks', () => {
    expect(raftstoreConfigOf(loadConfig({ overrides: { raftBaseTickMs: 10 } })).raftLogGcTickInterval).toBe(10);
    expect(raftstoreConfigOf(loadConfig({ overrides: { raftLogGcTickIntervalMs: 1_049 } })).raftLogGcTickInterval).toBe(10);
  });

  it("defaults to TinyKV's split thresholds and check interval, and rounds the interval to whole ticks", () => {
    expect(DEFAULT_CONFIG.regionMaxSizeBytes).toBe(144 * 1024 * 1024);
    expect(DEFAULT_CONFIG.regionSplitSizeBytes).toBe(96 * 1024 * 1024);
    expect(DEFAULT_CONFIG.splitRegionCheckTickIntervalMs).toBe(10_000);
    expect(raftstoreConfigOf(loadConfig({ overrides: { raftBaseTickMs: 50 } })).splitRegionCheckTickInterval).toBe(200);
    expect(raftstoreConfigOf(loadConfig({ overrides: { splitRegionCheckTickIntervalMs: 149 } })).splitRegionCheckTickInterval).toBe(1);
  });

  it('accepts a split size equal to the max size (TinyKV tests use tiny byte counts)', () => {
    const config = loadConfig({ overrides: { regionMaxSizeBytes: 300, regionSplitSizeBytes: 300 } });
    expect(raftstoreConfigOf(config)).toMatchObject({ regionMaxSizeBytes: 300, regionSplitSizeBytes: 300 });
  });

  const invalid: Array<[ConfigOverrides, string]> = [
    [{ raftHeartbeatTicks: 0 }, 'raftstore.raft-heartbeat-ticks must be 1..1000'],
    [{ raftElectionTimeoutTicks: 2 }, 'raftstore.raft-election-timeout-ticks must be above raftstore.raft-heartbeat-ticks'],
    [{ raftElectionTimeoutTicks: 5, raftHeartbeatTicks: 5 }, 'raftstore.raft-election-timeout-ticks must be above'],
    [{ raftMaxSizePerMsgBytes: 0 }, 'raftstore.raft-max-size-per-msg must be 1 byte..64MiB'],
    [{ raftMaxInflightMsgs: 0 }, 'raftstore.raft-max-inflight-msgs must be 1..16384'],
    [{ raftMaxPendingProposals: 0 }, 'raftstore.raft-max-pending-proposals must be 1..1000000'],
    [{ raftLogGcTickIntervalMs: 50 }, 'raftstore.raft-log-gc-tick-interval must be raftstore.raft-base-tick-interval..1h'],
    [{ regionMaxSizeBytes: 0, regionSplitSizeBytes: 0 }, 'raftstore.region-max-size must be at least 1 byte'],
    [{ regionSplitSizeBytes: 0 }, 'raftstore.region-split-size must be 1 byte..raftstore.region-max-size'],
    [{ regionMaxSizeBytes: 1024, regionSplitSizeBytes: 1025 }, 'raftstore.region-split-size must be 1 byte..raftstore.region-max-size'],
    [{ regionMaxSizeBytes: 64 * 1024 * 1024 }, 'raftstore.region-split-size must be 1 byte..raftstore.region-max-size'],
    [{ splitRegionCheckTickIntervalMs: 50 }, 'raftstore.split-region-check-tick-interval must be raftstore.raft-base-tick-interval..1h'],
    [{ splitRegionCheckTickIntervalMs: 3_600_001 }, 'raftstore.split-region-check-tick-interval must be'],
    [{ maxPeerDownDurationMs: 50 }, 'raftstore.max-peer-down-duration must be raftstore.raft-base-tick-interval..168h'],
    [{ maxPeerDownDurationMs: 168 * 3_600_000 + 1 }, 'raftstore.max-peer-down-duration must be'],
    [{ schedulerConnectTimeoutMs: 10 }, 'raftstore.scheduler-connect-timeout must be at least 1s'],
    [{ regionHeartbeatIntervalMs: 0 }, 'raftstore.pd-heartbeat-tick-interval must be 10ms..1h'],
    [{ storeHeartbeatIntervalMs: 4_000_000 }, 'raftstore.pd-store-heartbeat-tick-interval must be 10ms..1h'],
  ];
  it.each(invalid)('refuses %j', (overrides, message) => {
    expect(() => loadConfig({ overrides })).toThrow(ConfigError);
    expect(() => loadConfig({ overrides })).toThrow(message);
  });

  it('names the key when a file gives the wrong type', () => {
    expect(() => fromFile('[raftstore]\nraft-heartbeat-ticks = "two"\n')).toThrow('raftstore.raft-heartbeat-ticks must be an integer');
    expect(() => fromFile('[raftstore]\nraft-max-size-per-msg = "big"\n')).toThrow('raftstore.raft-max-size-per-msg must be a size');
    expect(() => fromFile('[raftstore]\nraft-log-gc-tick-interval = "soon"\n')).toThrow('raftstore.raft-log-gc-tick-interval must be a duration');
    expect(() => fromFile('[raftstore]\nregion-max-size = "huge"\n')).toThrow('raftstore.region-max-size must be a size');
    expect(() => fromFile('[raftstore]\nregion-split-size = -1\n')).toThrow('raftstore.region-split-size must be a size');
    expect(() => fromFile('[raftstore]\nsplit-region-check-tick-interval = "often"\n')).toThrow(
      'raftstore.split-region-check-tick-interval must be a duration',
    );
    expect(() => fromFile('[raftstore]\nmax-peer-down-duration = "a while"\n')).toThrow('raftstore.max-peer-down-duration must be a duration');
  });

  it('counts max-peer-down-duration in raft ticks (TiKV default 10m)', () => {
    expect(DEFAULT_CONFIG.maxPeerDownDurationMs).toBe(600_000);
    expect(raftstoreConfigOf(loadConfig({ overrides: { raftBaseTickMs: 20, maxPeerDownDurationMs: 1_000 } })).maxPeerDownTicks).toBe(50);
  });
});
