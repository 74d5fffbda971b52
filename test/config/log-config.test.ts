// The logging keys: log.format (json | pretty) and server.slow-log-threshold, from a file and as overrides.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../../src/config/config.js';
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

describe('log config', () => {
  it('defaults to JSON lines and a 1 s slow-log threshold', () => {
    expect(DEFAULT_CONFIG.logFormat).toBe('json');
    expect(DEFAULT_CONFIG.slowLogThresholdMs).toBe(1_000);
  });

  it('reads log.format and server.slow-log-threshold from a file', () => {
    const config = fromFile('[log]\nformat = "pretty"\n[server]\nslow-log-threshold = "250ms"\n');
    expect(config.logFormat).toBe('pretty');
    expect(config.slowLogThresholdMs).toBe(250);
  });

  it('refuses an unknown format and a threshold out of range', () => {
    expect(() => fromFile('[log]\nformat = "xml"\n')).toThrow(ConfigError);
    expect(() => loadConfig({ overrides: { slowLogThresholdMs: 0 } })).toThrow(/slow-log-threshold/);
  });
});
