// Which failed scheduler calls the one scheduler client retries: UNAVAILABLE always; a deadline
// only for the client library (retryOn: 'transport'), which would rather ask again than fail a
// lookup on a member that hung. A single scheduler's advertised URL is not another member to try.
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { ClientError } from '../../src/client/errors.js';
import { GetMembersResponse, GetRegionResponse, SchedulerService, type GetRegionRequest } from '../../src/proto/schedulerpb.js';
import { silentLogger } from '../../src/log/logger.js';

const CLUSTER_ID = 7n;
const header = { clusterId: CLUSTER_ID, error: undefined };

interface FakeScheduler {
  readonly addr: string;
  getRegionCalls: number;
  getMembersCalls: number;
  close(): Promise<void>;
}

/** A scheduler whose first GetRegion never answers; later ones answer with region 1. */
async function startFake(advertised: string): Promise<FakeScheduler> {
  const server = new Server();
  const fake = { getRegionCalls: 0, getMembersCalls: 0 } as FakeScheduler & { addr: string };
  const unimplemented = (_call: unknown, callback: sendUnaryData<unknown>) => callback({ code: 12, details: 'not in the fake' }, null);
  const handlers: Record<string, unknown> = {};
  for (const name of Object.keys(SchedulerService)) handlers[name] = unimplemented;
  handlers.getMembers = (_call: ServerUnaryCall<unknown, GetMembersResponse>, callback: sendUnaryData<GetMembersResponse>) => {
    fake.getMembersCalls++;
    const member = { name: 'one', memberId: 1n, clientUrls: [`http://${advertised}`] };
    callback(null, GetMembersResponse.fromPartial({ header, members: [member], leader: member, etcdLeader: member }));
  };
  handlers.getRegion = (_call: ServerUnaryCall<GetRegionRequest, GetRegionResponse>, callback: sendUnaryData<GetRegionResponse>) => {
    if (fake.getRegionCalls++ === 0) return; // hangs: the caller's deadline fires
    const region = { id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: 1, version: 1 }, peers: [] };
    callback(null, GetRegionResponse.fromPartial({ header, region }));
  };
  server.addService(SchedulerService, handlers as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  fake.addr = `127.0.0.1:${port}`;
  fake.close = () => new Promise((resolve) => server.tryShutdown(() => resolve()));
  return fake;
}

let fake: FakeScheduler | undefined;
let client: SchedulerClient | undefined;
afterEach(async () => {
  client?.close();
  await fake?.close();
});

describe('SchedulerClient retries', () => {
  it("retryOn 'transport' asks again after a deadline and gets the answer", async () => {
    fake = await startFake('0.0.0.0:1');
    client = await SchedulerClient.connect(fake.addr, {
      logger: silentLogger(),
      timeoutMs: 300,
      maxRetries: 1,
      backoffBaseMs: 1,
      retryOn: 'transport',
    });
    const lookup = await client.getRegion(Buffer.from('k'));
    expect(lookup?.region.id).toBe(1);
    expect(fake.getRegionCalls).toBe(2);
    // The only member advertised an address nobody can use: the client stayed where it was.
    expect(client.addr).toBe(fake.addr);
  });

  it("by default (stores) a deadline is the caller's to handle", async () => {
    fake = await startFake(`127.0.0.1:1`);
    client = await SchedulerClient.connect(fake.addr, { logger: silentLogger(), timeoutMs: 300, maxRetries: 1, backoffBaseMs: 1 });
    const failure = await client.getRegion(Buffer.from('k')).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ClientError);
    expect((failure as ClientError).code).toBe('KV:Client:Transport');
    expect(fake.getRegionCalls).toBe(1);
  });
});
