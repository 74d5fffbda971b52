// --log-format: json lines for collectors, pino-pretty text for people, both naming the component.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

async function settled(read: () => string): Promise<string> {
  for (let i = 0; i < 100 && !read().includes('\n'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return read();
}

describe('createLogger', () => {
  it('writes one JSON object a line by default, with the component', async () => {
    const out = capture();
    createLogger('info', 'tinykv', { component: 'poller-0', destination: out.stream }).info({ regionId: 7, term: 3 }, 'leader elected');
    const line = JSON.parse((await settled(out.text)).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, name: 'tinykv', component: 'poller-0', regionId: 7, term: 3, msg: 'leader elected' });
  });

  it('writes plain text for people with --log-format pretty: level, message and fields on one line, no colour codes', async () => {
    const out = capture();
    const logger = createLogger('info', 'tinykv', { format: 'pretty', component: 'store', destination: out.stream });
    logger.info({ regionId: 7, term: 3 }, 'leader elected');
    const text = await settled(out.text);
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toMatch(/INFO/);
    expect(text).toContain('leader elected');
    expect(text).toMatch(/component.*store/);
    expect(text).toMatch(/regionId.*7/);
    expect(text).not.toContain(String.fromCharCode(27));
    // The pid and host say nothing to a person reading one process's output.
    expect(text).not.toContain('"pid"');
  });

  it('respects the level in either format', async () => {
    const out = capture();
    const logger = createLogger('warn', 'tinykv', { format: 'pretty', destination: out.stream });
    logger.info('hidden');
    logger.warn('shown');
    const text = await settled(out.text);
    expect(text).toContain('shown');
    expect(text).not.toContain('hidden');
  });
});
