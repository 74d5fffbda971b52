// A committed normal entry whose bytes are no RaftCmdRequest (only a forged Raft message gets one
// committed) is applied as a no-op: decodeCommand answers undefined instead of throwing.
import { describe, expect, it } from 'vitest';
import { decodeCommand } from '../../src/raftstore/apply/applier.js';
import { RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';

describe('decodeCommand', () => {
  it('decodes a command and answers undefined for bytes that are not one', () => {
    const command = RaftCmdRequest.fromPartial({ header: { regionId: 7 } });
    expect(decodeCommand(RaftCmdRequest.encode(command).finish())?.header?.regionId).toBe(7);
    // A truncated length-delimited field: "premature EOF" from the decoder.
    expect(decodeCommand(Uint8Array.from([0x0a, 0x20, 0x01]))).toBeUndefined();
  });
});
