/**
 * Hand-written protobuf encoders for the few requests the bench sends, each one exact-size
 * allocation and no intermediate objects: the bench client shares the machine with the server it
 * measures, so every microsecond it spends is taken from the server. Field numbers follow
 * proto/kvrpcpb.proto (TinyKV Raw API) and bench/proto/etcd_kv.proto (etcd KV); the tests check
 * each encoder against the ts-proto decoder of the same message. Responses are decoded with the
 * generated code only to read the message of a failed call; otherwise they are walked (below).
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Size of a length-delimited field (tag + length + bytes); 0 for empty bytes (proto3 default). */
function lenFieldSize(field: number, bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : varintSize(field << 3) + varintSize(bytes.length) + bytes.length;
}

function writeLenField(buf: Buffer, pos: number, field: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return pos;
  pos = writeVarint(buf, pos, (field << 3) | WIRE_LEN);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Size of a non-negative varint field; 0 for 0 (proto3 default). */
function varintFieldSize(field: number, n: number): number {
  return n === 0 ? 0 : varintSize(field << 3) + varintSize(n);
}

function writeVarintField(buf: Buffer, pos: number, field: number, n: number): number {
  if (n === 0) return pos;
  pos = writeVarint(buf, pos, (field << 3) | WIRE_VARINT);
  return writeVarint(buf, pos, n);
}

// --- tinykvpb / kvrpcpb Raw API -------------------------------------------------------------

// `context` is an already encoded kvrpcpb.Context (the routed tinykv target encodes one per
// region and reuses it); empty leaves the field unset, for a node that routes by key itself.
const NO_CONTEXT = new Uint8Array(0);

/** kvrpcpb.RawGetRequest { context=1; key=2; cf=3 } */
export function encodeRawGet(key: Uint8Array, cf: Uint8Array, context: Uint8Array = NO_CONTEXT): Buffer {
  const buf = Buffer.allocUnsafe(lenFieldSize(1, context) + lenFieldSize(2, key) + lenFieldSize(3, cf));
  writeLenField(buf, writeLenField(buf, writeLenField(buf, 0, 1, context), 2, key), 3, cf);
  return buf;
}

/** kvrpcpb.RawPutRequest { context=1; key=2; value=3; cf=4 } */
export function encodeRawPut(key: Uint8Array, value: Uint8Array, cf: Uint8Array, context: Uint8Array = NO_CONTEXT): Buffer {
  const buf = Buffer.allocUnsafe(lenFieldSize(1, context) + lenFieldSize(2, key) + lenFieldSize(3, value) + lenFieldSize(4, cf));
  let pos = writeLenField(buf, 0, 1, context);
  pos = writeLenField(buf, pos, 2, key);
  writeLenField(buf, writeLenField(buf, pos, 3, value), 4, cf);
  return buf;
}

/** kvrpcpb.RawScanRequest { context=1; start_key=2; uint32 limit=3; cf=4 } */
export function encodeRawScan(startKey: Uint8Array, limit: number, cf: Uint8Array, context: Uint8Array = NO_CONTEXT): Buffer {
  const buf = Buffer.allocUnsafe(lenFieldSize(1, context) + lenFieldSize(2, startKey) + varintFieldSize(3, limit) + lenFieldSize(4, cf));
  let pos = writeLenField(buf, 0, 1, context);
  pos = writeLenField(buf, pos, 2, startKey);
  writeLenField(buf, writeVarintField(buf, pos, 3, limit), 4, cf);
  return buf;
}

// --- etcdserverpb KV --------------------------------------------------------------------------

/** etcdserverpb.PutRequest { key=1; value=2 } (no lease, no prev_kv). */
export function encodeEtcdPut(key: Uint8Array, value: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(lenFieldSize(1, key) + lenFieldSize(2, value));
  writeLenField(buf, writeLenField(buf, 0, 1, key), 2, value);
  return buf;
}

/** etcdserverpb.RangeRequest { key=1; range_end=2; int64 limit=3; bool serializable=7 } */
export function encodeEtcdRange(key: Uint8Array, rangeEnd: Uint8Array, limit: number, serializable: boolean): Buffer {
  const buf = Buffer.allocUnsafe(
    lenFieldSize(1, key) + lenFieldSize(2, rangeEnd) + varintFieldSize(3, limit) + varintFieldSize(7, serializable ? 1 : 0),
  );
  let pos = writeLenField(buf, 0, 1, key);
  pos = writeLenField(buf, pos, 2, rangeEnd);
  pos = writeVarintField(buf, pos, 3, limit);
  writeVarintField(buf, pos, 7, serializable ? 1 : 0);
  return buf;
}

// --- response inspection ------------------------------------------------------------------------

/**
 * What the bench needs from a response, read by walking its top-level fields without decoding
 * them (no copies, no objects). Shared and overwritten by every inspect call: read it at once.
 */
export interface ResponseFacts {
  /** One of the error fields asked about is present and non-empty. */
  errorSet: boolean;
  /** Occurrences of the counted field (repeated pairs). */
  count: number;
  /** The flag field is a non-zero varint. */
  flag: boolean;
}

const facts: ResponseFacts = { errorSet: false, count: 0, flag: false };
let cursor = 0;

function readVarint(buf: Buffer): number {
  let result = 0;
  let scale = 1;
  for (;;) {
    const b = buf[cursor++];
    if (b === undefined) throw new Error('truncated protobuf varint');
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
}

/**
 * Walks `buf`'s top-level fields: `errorFields` is a bit mask of field numbers (1 << n) whose
 * presence means the call failed, `countField` the repeated field to count, `flagField` a bool.
 * Pass 0 for what is not wanted.
 */
export function inspectResponse(buf: Buffer, errorFields: number, countField: number, flagField: number): ResponseFacts {
  facts.errorSet = false;
  facts.count = 0;
  facts.flag = false;
  cursor = 0;
  const end = buf.length;
  while (cursor < end) {
    const tag = readVarint(buf);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_VARINT) {
      const v = readVarint(buf);
      if (field === flagField && v !== 0) facts.flag = true;
      if (field < 31 && errorFields & (1 << field) && v !== 0) facts.errorSet = true;
    } else if (wire === WIRE_LEN) {
      const len = readVarint(buf);
      cursor += len;
      if (field === countField) facts.count++;
      if (field < 31 && errorFields & (1 << field) && len > 0) facts.errorSet = true;
    } else if (wire === 1) {
      cursor += 8;
    } else if (wire === 5) {
      cursor += 4;
    } else {
      throw new Error(`unexpected protobuf wire type ${wire} (field ${field})`);
    }
  }
  if (cursor !== end) throw new Error('truncated protobuf message');
  return facts;
}
