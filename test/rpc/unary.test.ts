// callUnary: the one promise wrapper of gRPC unary calls (deadline, abort, status -> error).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Server, ServerCredentials, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { callUnary, type UnaryMethod } from '../../src/rpc/unary.js';

const echo = {
  path: '/test.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (bytes: Buffer) => bytes,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (bytes: Buffer) => bytes,
};

let server: Server;
let client: Client;

/** The generated-client shape of Echo: answers at once, "slow" after 2 s, "fail" with NOT_FOUND. */
const echoMethod: UnaryMethod<Buffer, Buffer> = function (this: Client, request, metadata, options, callback) {
  const done = callback as (error: ServiceError | null, response?: Buffer) => void;
  return this.makeUnaryRequest(echo.path, echo.requestSerialize, echo.responseDeserialize, request, metadata, options, done);
};

class Mapped extends Error {
  constructor(readonly status: GrpcStatus) {
    super(`mapped ${status}`);
  }
}
const toError = (err: ServiceError) => new Mapped(err.code);

beforeAll(async () => {
  server = new Server();
  server.addService(
    { Echo: echo },
    {
      Echo: (call: { request: Buffer }, callback: (err: Partial<ServiceError> | null, value?: Buffer) => void) => {
        const text = call.request.toString();
        if (text === 'fail') callback({ code: GrpcStatus.NOT_FOUND, details: 'no such thing' });
        else if (text === 'slow') setTimeout(() => callback(null, call.request), 2_000);
        else callback(null, call.request);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

describe('callUnary', () => {
  it('resolves with the response', async () => {
    expect((await callUnary(client, echoMethod, Buffer.from('hi'), { timeoutMs: 2_000 }, toError)).toString()).toBe('hi');
  });

  it('maps an error status through the given mapper', async () => {
    await expect(callUnary(client, echoMethod, Buffer.from('fail'), { timeoutMs: 2_000 }, toError)).rejects.toMatchObject({
      status: GrpcStatus.NOT_FOUND,
    });
  });

  it('fails with DEADLINE_EXCEEDED once the deadline passes', async () => {
    const started = Date.now();
    await expect(callUnary(client, echoMethod, Buffer.from('slow'), { timeoutMs: 100 }, toError)).rejects.toMatchObject({
      status: GrpcStatus.DEADLINE_EXCEEDED,
    });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('cancels the call when the signal aborts, and at once when it already has', async () => {
    const controller = new AbortController();
    const pending = callUnary(client, echoMethod, Buffer.from('slow'), { timeoutMs: 5_000, signal: controller.signal }, toError);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ status: GrpcStatus.CANCELLED });
    await expect(callUnary(client, echoMethod, Buffer.from('hi'), { timeoutMs: 5_000, signal: controller.signal }, toError)).rejects.toMatchObject({
      status: GrpcStatus.CANCELLED,
    });
  });
});
