// Requests that are not valid protobuf (field 0, stray end-group, truncated, bad wire type) are
// refused with INVALID_ARGUMENT before they are decoded, at every depth of nesting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { RawGetRequest, RawPutRequest } from '../../src/proto/kvrpcpb.js';
import { TsoRequest } from '../../src/proto/schedulerpb.js';
import { wireFormatProblem } from '../../src/rpc/wire-format.js';

const enc = (message: Uint8Array) => Buffer.from(message);
const rawGet = (key: string) => enc(RawGetRequest.encode(RawGetRequest.fromPartial({ key: Buffer.from(key) })).finish());
/** A RawGetRequest whose context (field 1) holds `inner` as its bytes. */
const withContext = (inner: number[]) => Buffer.concat([Buffer.from([0x0a, inner.length, ...inner]), rawGet('k')]);

describe('wireFormatProblem', () => {
  const type = 'kvrpcpb.RawGetRequest';

  it('accepts valid messages, unknown fields and well-formed groups', () => {
    expect(wireFormatProblem(rawGet('k'), type)).toBeUndefined();
    expect(wireFormatProblem(Buffer.alloc(0), type)).toBeUndefined();
    expect(wireFormatProblem(Buffer.concat([rawGet('k'), Buffer.from([0xf8, 0x01, 0x05])]), type)).toBeUndefined(); // field 31 varint
    expect(wireFormatProblem(Buffer.concat([rawGet('k'), Buffer.from([0x4b, 0x08, 0x01, 0x4c])]), type)).toBeUndefined(); // group 9
    expect(wireFormatProblem(withContext([0x08, 0x07]), type)).toBeUndefined(); // context.region_id = 7
  });

  it('rejects field number 0, at the top and inside a nested message', () => {
    expect(wireFormatProblem(Buffer.concat([rawGet('k'), Buffer.from([0x02, 0x00])]), type)).toMatch(/field number 0/);
    expect(wireFormatProblem(Buffer.from([0x00, 0x00]), type)).toMatch(/field number 0/);
    expect(wireFormatProblem(withContext([0x00, 0x01]), type)).toMatch(/field number 0/);
  });

  it('rejects an end-group tag without a start group, and an unclosed group', () => {
    expect(wireFormatProblem(Buffer.concat([Buffer.from([0x4c]), rawGet('k')]), type)).toMatch(/end-group/);
    expect(wireFormatProblem(withContext([0x4c]), type)).toMatch(/end-group/);
    expect(wireFormatProblem(Buffer.from([0x4b, 0x08, 0x01]), type)).toMatch(/not closed/);
    expect(wireFormatProblem(Buffer.from([0x4b, 0x54]), type)).toMatch(/closed by field 10/);
  });

  it('rejects truncation, invalid wire types, over-long varints and lengths past the end', () => {
    expect(wireFormatProblem(rawGet('key').subarray(0, 3), type)).toMatch(/truncated|past the end/);
    expect(wireFormatProblem(Buffer.from([0x0e]), type)).toMatch(/wire type 6/);
    expect(wireFormatProblem(Buffer.from([0x08, ...Array(10).fill(0xff), 0x01]), type)).toMatch(/varint/);
    expect(wireFormatProblem(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), type)).toMatch(/past the end/);
    expect(wireFormatProblem(Buffer.from([0x0d, 1, 2]), type)).toMatch(/truncated/);
  });

  it('bounds nesting depth', () => {
    // eraftpb.Message has no self-nesting; a deep chain of unknown groups stands in for it.
    const deep = Buffer.concat([Buffer.alloc(200, 0x4b), Buffer.alloc(200, 0x4c)]);
    expect(wireFormatProblem(deep, type)).toMatch(/nested more than/);
  });
});

describe('the server refuses malformed requests with INVALID_ARGUMENT', () => {
  let node: TinyKvNode;
  let client: Client;

  beforeAll(async () => {
    node = await startServer({ addr: '127.0.0.1:0', engine: 'memory', logger: silentLogger() });
    client = new Client(node.addr, credentials.createInsecure());
    const put = RawPutRequest.encode(RawPutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') })).finish();
    await unary('/tinykvpb.TinyKv/RawPut', enc(put));
  });

  afterAll(async () => {
    client.close();
    await node.close();
  });

  function unary(path: string, bytes: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!)),
      );
    });
  }

  async function refused(path: string, bytes: Buffer): Promise<ServiceError> {
    const err = await unary(path, bytes).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    if (err === undefined) throw new Error('the malformed request was accepted');
    return err;
  }

  it('a RawGet with a field numbered 0 (top level or in its context) or a stray end-group tag', async () => {
    for (const bytes of [
      Buffer.concat([rawGet('k'), Buffer.from([0x02, 0x00])]),
      withContext([0x00, 0x01]),
      Buffer.concat([rawGet('k'), Buffer.from([0x4c])]),
      withContext([0x4c]),
    ]) {
      const err = await refused('/tinykvpb.TinyKv/RawGet', bytes);
      expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err.metadata.get('tinykv-error-code')).toEqual(['KV:Server:MalformedMessage']);
    }
    // The same request without the garbage is answered.
    expect((await unary('/tinykvpb.TinyKv/RawGet', rawGet('k'))).length).toBeGreaterThan(0);
  });

  it('a message on a stream (Tso) that is not valid protobuf ends the stream with INVALID_ARGUMENT', async () => {
    const stream = client.makeBidiStreamRequest(
      '/schedulerpb.Scheduler/Tso',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => {});
    const valid = enc(TsoRequest.encode(TsoRequest.fromPartial({ count: 1 })).finish());
    stream.write(valid);
    // A valid request with a field numbered 0 after it: the generated decoder alone skips it.
    stream.write(Buffer.concat([valid, Buffer.from([0x02, 0x00])]));
    const err = await ended;
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.metadata.get('tinykv-error-code')).toEqual(['KV:Server:MalformedMessage']);
  });
});
