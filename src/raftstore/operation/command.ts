/** Raft commands as proposed and answered: builders and response helpers over raft_cmdpb. */
import type { Error as RegionErrorPb } from '../../proto/errorpb.js';
import {
  CmdType,
  RaftCmdRequest,
  RaftCmdResponse,
  Response,
  type Request,
} from '../../proto/raft_cmdpb.js';

export function errorResponse(error: RegionErrorPb, currentTerm = 0): RaftCmdResponse {
  return RaftCmdResponse.fromPartial({ header: { error, currentTerm } });
}

export function isReadOnly(request: RaftCmdRequest): boolean {
  return (
    request.adminRequest === undefined &&
    request.requests.length > 0 &&
    request.requests.every((r) => r.cmdType === CmdType.Get || r.cmdType === CmdType.Snap)
  );
}

export function emptyResponseFor(request: Request): Response {
  return Response.fromPartial({ cmdType: request.cmdType });
}
