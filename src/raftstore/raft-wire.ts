/**
 * Raft messages as bytes on the main thread: it routes and forwards them without decoding. A
 * message's region id is read straight from its encoding (field 1 of RaftMessage), and a
 * BatchRaftMessage is built from, and split into, encoded RaftMessages (field 1, repeated).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

const REGION_ID_FIELD = 1;
const BATCH_MSGS_FIELD = 1;

/** The region id of an encoded RaftMessage (0 when absent, as protobuf decodes it). */
export function peekRegionId(message: Uint8Array): number {
  const reader = new BinaryReader(message);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === REGION_ID_FIELD && wireType === WireType.Varint) return Number(reader.uint64());
    reader.skip(wireType, field);
  }
  return 0;
}

/** An encoded BatchRaftMessage holding these encoded RaftMessages. */
export function encodeBatch(messages: readonly Uint8Array[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const message of messages) writer.uint32((BATCH_MSGS_FIELD << 3) | WireType.LengthDelimited).bytes(message);
  return writer.finish();
}

/** The encoded RaftMessages of an encoded BatchRaftMessage (views into it, not copies). */
export function splitBatch(batch: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(batch);
  const out: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === BATCH_MSGS_FIELD && wireType === WireType.LengthDelimited) out.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return out;
}
