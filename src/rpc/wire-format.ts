/**
 * Rejects requests that are not valid protobuf before ts-proto decodes them.
 *
 * The generated decoders are lenient where the protobuf spec is not: they skip a field numbered 0
 * as if it were an unknown field, and stop decoding at an end-group tag that has no start group
 * (returning whatever was read so far, or misreading the rest of an enclosing message). A request
 * like that is garbage, not a message; the server must say so rather than act on part of it.
 *
 * So every request is walked once over its wire format (no allocation, nothing decoded): tags,
 * varints, lengths and groups, recursing into the fields the schema says are messages
 * (src/proto/wire-schema.ts, generated from the .proto files). A request that fails the walk,
 * or that the decoder then throws on, becomes a `MalformedRequest`; gRPC-js answers a throwing
 * deserializer with INTERNAL, so instead the interceptor below answers INVALID_ARGUMENT
 * (KV:Server:MalformedMessage) and the handler never sees the request.
 */
import {
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { MESSAGE_FIELDS, METHOD_REQUESTS } from '../proto/wire-schema.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { toServiceError } from './error-status.js';

/** Deepest message nesting accepted (ts-proto's decoders stop at the same depth). */
export const WIRE_MAX_DEPTH = 100;
/** Highest field number protobuf allows (2^29 - 1). */
const MAX_FIELD_NUMBER = 0x1fffffff;

const WireType = { Varint: 0, Fixed64: 1, LengthDelimited: 2, StartGroup: 3, EndGroup: 4, Fixed32: 5 } as const;

class WireError extends Error {}

/** A cursor over one buffer; every read checks its bounds. */
class Cursor {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** A varint of at most 10 bytes; returns its low 32 bits and whether higher bits were set. */
  varint(limit: number): { low: number; high: boolean } {
    let low = 0;
    let high = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= limit) throw new WireError('truncated varint');
      // Per byte on the hot path: a local undefined check narrows without a call (the check above already proves it).
      const byte = this.bytes[this.pos++];
      if (byte === undefined) throw new WireError('truncated varint');
      if (i < 4) low |= (byte & 0x7f) << (7 * i);
      else if (i === 4) {
        low |= (byte & 0x0f) << 28;
        if (byte & 0x70) high = true;
      } else if (byte & 0x7f) high = true;
      // The tenth byte may only carry bit 63.
      if (i === 9 && byte > 1) throw new WireError('varint longer than 64 bits');
      if ((byte & 0x80) === 0) return { low: low >>> 0, high };
    }
    throw new WireError('varint longer than 10 bytes');
  }

  skip(count: number, limit: number): void {
    if (count > limit - this.pos) throw new WireError('truncated field');
    this.pos += count;
  }
}

/**
 * Walks the fields in [cursor.pos, limit) of a message of type `typeName` (undefined: unknown, do
 * not look inside its fields). Inside a group, returns at the group's end tag.
 */
function walk(cursor: Cursor, limit: number, typeName: string | undefined, depth: number, groupField?: number): void {
  if (depth > WIRE_MAX_DEPTH) throw new WireError(`messages nested more than ${WIRE_MAX_DEPTH} deep`);
  const messageFields = typeName === undefined ? undefined : MESSAGE_FIELDS[typeName];
  while (cursor.pos < limit) {
    const tag = cursor.varint(limit);
    if (tag.high) throw new WireError('tag longer than 32 bits');
    const field = tag.low >>> 3;
    const wireType = tag.low & 7;
    if (field === 0) throw new WireError('field number 0');
    if (field > MAX_FIELD_NUMBER) throw new WireError(`field number ${field} out of range`);
    switch (wireType) {
      case WireType.Varint:
        cursor.varint(limit);
        break;
      case WireType.Fixed64:
        cursor.skip(8, limit);
        break;
      case WireType.Fixed32:
        cursor.skip(4, limit);
        break;
      case WireType.LengthDelimited: {
        const length = cursor.varint(limit);
        if (length.high || length.low > limit - cursor.pos) throw new WireError(`field ${field}: length past the end of the message`);
        const end = cursor.pos + length.low;
        const nested = messageFields?.[field];
        if (nested !== undefined) walk(cursor, end, nested, depth + 1);
        cursor.pos = end;
        break;
      }
      case WireType.StartGroup:
        walk(cursor, limit, undefined, depth + 1, field);
        break;
      case WireType.EndGroup:
        if (groupField === field) return;
        throw new WireError(
          groupField === undefined ? `end-group tag (field ${field}) without a start group` : `group ${groupField} closed by field ${field}`,
        );
      default:
        throw new WireError(`invalid wire type ${wireType} (field ${field})`);
    }
  }
  if (groupField !== undefined) throw new WireError(`group ${groupField} is not closed`);
}

/** Why `bytes` is not a well-formed message of type `typeName`, or undefined when it is. */
export function wireFormatProblem(bytes: Uint8Array, typeName: string | undefined): string | undefined {
  try {
    walk(new Cursor(bytes), bytes.length, typeName, 0);
    return undefined;
  } catch (err) {
    if (err instanceof WireError) return err.message;
    throw err;
  }
}

/** What a checked deserializer returns for a request that is not valid; the interceptor rejects it. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * A request deserializer that hands the bytes on as they are (TinyKv/Raft and BatchRaft): the
 * store routes them by region id and its raft poller decodes them, dropping (and counting) what
 * does not decode, so walking them on the main thread first would only cost time on the hot path.
 * `checkedService` leaves such methods alone.
 */
export function keepRequestBytes(bytes: Buffer): Buffer {
  return bytes;
}

/**
 * `service` with every request deserializer checking the wire format first; a bad request (or
 * one its decoder throws on) deserializes to a MalformedRequest. Use with `rejectMalformedRequests`.
 * Methods that keep their request bytes (`keepRequestBytes`) are left as they are.
 */
export function checkedService<S extends ServiceDefinition>(service: S): S {
  const checked: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(service)) {
    if (definition.requestDeserialize === keepRequestBytes) {
      checked[name] = definition;
      continue;
    }
    const typeName = METHOD_REQUESTS[definition.path];
    const decode = definition.requestDeserialize;
    checked[name] = {
      ...definition,
      requestDeserialize: (bytes: Buffer): unknown => {
        const problem = wireFormatProblem(bytes, typeName);
        if (problem !== undefined) return new MalformedRequest(problem);
        try {
          return decode(bytes);
        } catch (err) {
          return new MalformedRequest(`does not decode: ${err instanceof Error ? err.message : String(err)}`);
        }
      },
    };
  }
  return checked as S;
}

/**
 * A server interceptor answering INVALID_ARGUMENT (KV:Server:MalformedMessage) to a request, or a
 * stream message, that deserialized to a MalformedRequest; the handler never sees it.
 */
export const rejectMalformedRequests: ServerInterceptor = (
  method: ServerMethodDefinition<unknown, unknown>,
  call: ServerInterceptingCallInterface,
) => {
  let rejected = false;
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMessage: (message: unknown, forward: (message: unknown) => void) => {
          if (rejected) return;
          if (message instanceof MalformedRequest) {
            rejected = true;
            const err = new TinyKvError(ErrorCode.MalformedMessage, `${method.path}: malformed request: ${message.reason}`);
            call.sendStatus(toServiceError(err));
            return;
          }
          forward(message);
        },
        onReceiveHalfClose: (forward: () => void) => {
          if (!rejected) forward();
        },
      }),
  });
};
