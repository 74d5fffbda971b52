/**
 * How a raft log entry is stored: its protobuf encoding behind a CRC32 checksum, checked on every
 * read, as etcd's WAL checks its records. A flipped bit on disk then stops the store with a clear
 * error instead of feeding a wrong command to the state machine.
 *
 * Stored value: 0x00, format version 0x01, CRC32 (IEEE, node:zlib) of the payload as u32
 * big-endian, then the Entry's protobuf bytes. A protobuf Entry can never start with 0x00 (field
 * number 0 does not exist), so entries written before checksums (plain protobuf) are still read,
 * from data directories created by earlier versions; the log replaces them as it moves on. Such an
 * entry has no checksum, but it must be exactly what Entry.encode writes (canonical: re-encoding
 * gives the same bytes), so a checksummed entry whose first byte was damaged is not mistaken for
 * one. A read always checks that the entry is the one stored under its key (its index).
 */
import { crc32 } from 'node:zlib';
import { Entry } from '../../proto/eraftpb.js';
import { ErrorCode, TinyKvError } from '../../util/errors.js';

const CHECKSUMMED = 0x00;
const FORMAT_VERSION = 0x01;
const HEADER_BYTES = 6;

export function encodeLogEntry(entry: Entry): Buffer {
  const payload = Entry.encode(entry).finish();
  const value = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  value[0] = CHECKSUMMED;
  value[1] = FORMAT_VERSION;
  value.writeUInt32BE(crc32(payload), 2);
  value.set(payload, HEADER_BYTES);
  return value;
}

/** Decodes the entry stored under (regionId, index); throws KV:Raftstore:LogCorrupted if it is damaged. */
export function decodeLogEntry(regionId: number, index: number, value: Uint8Array): Entry {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  let payload: Buffer = bytes;
  const legacy = bytes.length === 0 || bytes[0] !== CHECKSUMMED;
  if (!legacy) {
    if (bytes.length < HEADER_BYTES || bytes[1] !== FORMAT_VERSION) {
      throw logCorrupted(regionId, index, `unknown entry format (${bytes.length} bytes, version ${bytes[1]})`);
    }
    payload = bytes.subarray(HEADER_BYTES);
    const expected = bytes.readUInt32BE(2);
    const actual = crc32(payload);
    if (actual !== expected) {
      throw logCorrupted(regionId, index, `checksum mismatch (stored ${hex(expected)}, computed ${hex(actual)})`);
    }
  }
  let entry: Entry;
  try {
    entry = Entry.decode(payload);
  } catch (err) {
    throw logCorrupted(regionId, index, `entry does not decode (${(err as Error).message})`);
  }
  if (legacy && !Buffer.from(Entry.encode(entry).finish()).equals(bytes)) {
    throw logCorrupted(regionId, index, 'entry has no checksum and is not a well-formed entry of the earlier format');
  }
  if (entry.index !== index) throw logCorrupted(regionId, index, `entry holds index ${entry.index}`);
  return entry;
}

function logCorrupted(regionId: number, index: number, why: string): TinyKvError {
  return new TinyKvError(ErrorCode.RaftLogCorrupted, `raft log entry ${index} of region ${regionId} is corrupted: ${why}`, {
    regionId,
    index,
  });
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
