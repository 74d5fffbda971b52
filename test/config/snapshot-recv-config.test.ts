// The snapshot receive bounds in [server]: read from the file, checked against each other.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
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

describe('snapshot receive config', () => {
  it('reads every key', () => {
    const config = fromFile(
      '[server]\nsnap-max-size = "64MiB"\nsnap-max-total-size = "128MiB"\nconcurrent-recv-snap-limit = 2\nsnap-recv-idle-timeout = "5s"\nsnap-recv-timeout = "1m"\n',
    );
    expect(config.snapMaxSizeBytes).toBe(64 * 1024 * 1024);
    expect(config.snapMaxTotalSizeBytes).toBe(128 * 1024 * 1024);
    expect(config.snapConcurrentRecvLimit).toBe(2);
    expect(config.snapRecvIdleTimeoutMs).toBe(5_000);
    expect(config.snapRecvTimeoutMs).toBe(60_000);
  });

  it('refuses bounds that contradict each other', () => {
    expect(() => fromFile('[server]\nsnap-max-size = "1GiB"\nsnap-max-total-size = "512MiB"\n')).toThrow(ConfigError);
    expect(() => fromFile('[server]\nconcurrent-recv-snap-limit = 0\n')).toThrow(/concurrent-recv-snap-limit/);
    expect(() => fromFile('[server]\nsnap-recv-idle-timeout = "20s"\nsnap-recv-timeout = "10s"\n')).toThrow(/snap-recv-timeout/);
  });
});
