// The per-request log: silent for ordinary requests, a warn line for a slow one, an error line for
// one answered DATA_LOSS or INTERNAL, and rate-limited either way.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RequestLog } from '../../src/log/request-log.js';

function recording(thresholdMs = 100) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  let nowMs = 0;
  const log = new RequestLog(logger, thresholdMs, () => nowMs);
  return { lines, log, advance: (ms: number) => (nowMs += ms) };
}

const inRegion = (regionId: number) => ({ context: { regionId }, key: Buffer.from('k') });

describe('RequestLog', () => {
  it('writes nothing for a request answered in time, successful or refused', () => {
    const { lines, log } = recording();
    log.finished('RawGet', inRegion(2), 99, GrpcStatus.OK);
    log.finished('RawGet', inRegion(2), 5, GrpcStatus.INVALID_ARGUMENT, new Error('bad key'));
    expect(lines).toEqual([]);
  });

  it('logs a request above the threshold at warn with its method, region and duration', () => {
    const { lines, log } = recording();
    log.finished('KvPrewrite', inRegion(7), 250.4, GrpcStatus.OK);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: 'slow request', method: 'KvPrewrite', regionId: 7, durationMs: 250, thresholdMs: 100 });
  });

  it('logs every request answered DATA_LOSS or INTERNAL at error, however fast', () => {
    const { lines, log } = recording();
    log.finished('KvGet', inRegion(3), 1, GrpcStatus.DATA_LOSS, new Error('damaged record'));
    log.finished('RawPut', { context: undefined }, 1, GrpcStatus.INTERNAL, new Error('bug'));
    expect(lines.map((l) => [l.level, l.msg, l.method, l.regionId])).toEqual([
      [50, 'request answered DATA_LOSS', 'KvGet', 3],
      [50, 'request answered INTERNAL', 'RawPut', undefined],
    ]);
    expect(lines[0]?.err).toMatchObject({ message: 'damaged record' });
  });

  it('lets 10 lines a second through and counts the rest on the next line', () => {
    const { lines, log, advance } = recording();
    for (let i = 0; i < 50; i++) log.finished('RawScan', inRegion(1), 500, GrpcStatus.OK);
    expect(lines).toHaveLength(10);
    advance(1_000);
    log.finished('RawScan', inRegion(1), 500, GrpcStatus.OK);
    expect(lines.at(-1)).toMatchObject({ suppressed: 40 });
  });
});
