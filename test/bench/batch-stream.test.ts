// The bench's hand-made BatchCommands wire format against the generated codec: what it encodes
// decodes as the same requests and ids, and what the server encodes walks back to its responses.
import { describe, expect, it } from 'vitest';
import { RawGetRequest, RawPutRequest, RawPutResponse } from '../../src/proto/kvrpcpb.js';
import { BatchCommandsRequest, BatchCommandsResponse } from '../../src/proto/tinykvpb.js';
import { encodeBatch, walkBatchResponse } from '../../bench/targets/batch-stream.js';
import { encodeRawGet, encodeRawPut } from '../../bench/wire.js';

const noop = () => {};

describe('bench BatchCommands wire format', () => {
  it('encodes requests in their oneof fields with packed ids, as the generated decoder reads them', () => {
    const cf = Buffer.from('default');
    const put = encodeRawPut(Buffer.from('k1'), Buffer.alloc(300, 7), cf);
    const get = encodeRawGet(Buffer.from('k2'), cf);
    const bytes = encodeBatch([
      { id: 1, field: 15, request: put, resolve: noop, reject: noop },
      { id: 300, field: 13, request: get, resolve: noop, reject: noop },
      { id: 2 ** 40, field: 13, request: get, resolve: noop, reject: noop },
    ]);
    const decoded = BatchCommandsRequest.decode(bytes);
    expect(decoded.requestIds).toEqual([1n, 300n, 2n ** 40n]);
    expect(decoded.requests[0]?.rawPut).toEqual(RawPutRequest.decode(put));
    expect(decoded.requests[1]?.rawGet).toEqual(RawGetRequest.decode(get));
    expect(decoded.requests[2]?.rawPut).toBeUndefined();
  });

  it('walks a BatchCommandsResponse into its responses and ids', () => {
    const message = BatchCommandsResponse.encode({
      responses: [{ error: undefined, rawPut: RawPutResponse.fromPartial({}) }, { error: { code: 3, message: 'bad', serverCode: '' } }],
      requestIds: [7n, 9n],
    }).finish();
    const { responses, ids } = walkBatchResponse(Buffer.from(message));
    expect(ids).toEqual([7, 9]);
    expect(responses).toHaveLength(2);
  });
});
