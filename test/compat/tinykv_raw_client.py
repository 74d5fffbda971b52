"""An independent TinyKV Raw API client in Python (Debian python3-grpcio + python3-protobuf).

It does not read this project's .proto files: it declares TinyKV's kvrpcpb/errorpb/metapb
messages itself, field by field with TinyKV's field numbers, so it checks the wire format from
the outside. Usage: tinykv_raw_client.py HOST:PORT. Prints one JSON line of results.
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

T = descriptor_pb2.FieldDescriptorProto


def field(msg, name, number, ftype, type_name=None, repeated=False):
    f = msg.field.add(name=name, number=number, type=ftype,
                      label=T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL)
    if type_name:
        f.type_name = type_name


def build_pool():
    pool = descriptor_pool.DescriptorPool()
    meta = descriptor_pb2.FileDescriptorProto(name="py_metapb.proto", package="metapb", syntax="proto3")
    epoch = meta.message_type.add(name="RegionEpoch")
    field(epoch, "conf_ver", 1, T.TYPE_UINT64)
    field(epoch, "version", 2, T.TYPE_UINT64)
    peer = meta.message_type.add(name="Peer")
    field(peer, "id", 1, T.TYPE_UINT64)
    field(peer, "store_id", 2, T.TYPE_UINT64)
    pool.Add(meta)

    err = descriptor_pb2.FileDescriptorProto(name="py_errorpb.proto", package="errorpb", syntax="proto3")
    error = err.message_type.add(name="Error")
    field(error, "message", 1, T.TYPE_STRING)
    pool.Add(err)

    kv = descriptor_pb2.FileDescriptorProto(name="py_kvrpcpb.proto", package="kvrpcpb", syntax="proto3",
                                            dependency=["py_metapb.proto", "py_errorpb.proto"])
    ctx = kv.message_type.add(name="Context")
    field(ctx, "region_id", 1, T.TYPE_UINT64)
    field(ctx, "region_epoch", 2, T.TYPE_MESSAGE, ".metapb.RegionEpoch")
    field(ctx, "peer", 3, T.TYPE_MESSAGE, ".metapb.Peer")
    field(ctx, "term", 5, T.TYPE_UINT64)
    pair = kv.message_type.add(name="KvPair")
    field(pair, "key", 2, T.TYPE_BYTES)
    field(pair, "value", 3, T.TYPE_BYTES)

    m = kv.message_type.add(name="RawGetRequest")
    field(m, "context", 1, T.TYPE_MESSAGE, ".kvrpcpb.Context")
    field(m, "key", 2, T.TYPE_BYTES)
    field(m, "cf", 3, T.TYPE_STRING)
    m = kv.message_type.add(name="RawGetResponse")
    field(m, "region_error", 1, T.TYPE_MESSAGE, ".errorpb.Error")
    field(m, "error", 2, T.TYPE_STRING)
    field(m, "value", 3, T.TYPE_BYTES)
    field(m, "not_found", 4, T.TYPE_BOOL)
    m = kv.message_type.add(name="RawPutRequest")
    field(m, "context", 1, T.TYPE_MESSAGE, ".kvrpcpb.Context")
    field(m, "key", 2, T.TYPE_BYTES)
    field(m, "value", 3, T.TYPE_BYTES)
    field(m, "cf", 4, T.TYPE_STRING)
    for name in ("RawPutResponse", "RawDeleteResponse"):
        m = kv.message_type.add(name=name)
        field(m, "region_error", 1, T.TYPE_MESSAGE, ".errorpb.Error")
        field(m, "error", 2, T.TYPE_STRING)
    m = kv.message_type.add(name="RawDeleteRequest")
    field(m, "context", 1, T.TYPE_MESSAGE, ".kvrpcpb.Context")
    field(m, "key", 2, T.TYPE_BYTES)
    field(m, "cf", 3, T.TYPE_STRING)
    m = kv.message_type.add(name="RawScanRequest")
    field(m, "context", 1, T.TYPE_MESSAGE, ".kvrpcpb.Context")
    field(m, "start_key", 2, T.TYPE_BYTES)
    field(m, "limit", 3, T.TYPE_UINT32)
    field(m, "cf", 4, T.TYPE_STRING)
    m = kv.message_type.add(name="RawScanResponse")
    field(m, "region_error", 1, T.TYPE_MESSAGE, ".errorpb.Error")
    field(m, "error", 2, T.TYPE_STRING)
    field(m, "kvs", 3, T.TYPE_MESSAGE, ".kvrpcpb.KvPair", repeated=True)
    pool.Add(kv)
    return pool


def main():
    addr = sys.argv[1]
    pool = build_pool()

    def cls(name):
        desc = pool.FindMessageTypeByName("kvrpcpb." + name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(pool).GetPrototype(desc)

    channel = grpc.insecure_channel(addr)

    def rpc(method, request, response_name):
        call = channel.unary_unary("/tinykvpb.TinyKv/" + method,
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=cls(response_name).FromString)
        return call(request, timeout=10)

    ctx = cls("Context")(region_id=1)
    out = {}
    rpc("RawPut", cls("RawPutRequest")(context=ctx, key=b"py-a", value=b"\x00\x01alpha", cf="default"), "RawPutResponse")
    rpc("RawPut", cls("RawPutRequest")(context=ctx, key=b"py-b", value=b"beta", cf="default"), "RawPutResponse")
    rpc("RawPut", cls("RawPutRequest")(context=ctx, key=b"py-c", value=b"gamma", cf="write"), "RawPutResponse")
    got = rpc("RawGet", cls("RawGetRequest")(context=ctx, key=b"py-a", cf="default"), "RawGetResponse")
    out["get"] = {"value": got.value.hex(), "not_found": got.not_found}
    other_cf = rpc("RawGet", cls("RawGetRequest")(key=b"py-c", cf="write"), "RawGetResponse")
    out["get_write_cf"] = other_cf.value.decode()
    scan = rpc("RawScan", cls("RawScanRequest")(start_key=b"py-", limit=10, cf=""), "RawScanResponse")
    out["scan"] = [[kv.key.decode(), kv.value.hex()] for kv in scan.kvs]
    rpc("RawDelete", cls("RawDeleteRequest")(key=b"py-a", cf="default"), "RawDeleteResponse")
    gone = rpc("RawGet", cls("RawGetRequest")(key=b"py-a"), "RawGetResponse")
    out["after_delete"] = {"not_found": gone.not_found, "value": gone.value.hex()}
    try:
        rpc("RawPut", cls("RawPutRequest")(key=b"k", value=b"v", cf="bogus"), "RawPutResponse")
        out["bad_cf"] = "accepted"
    except grpc.RpcError as e:
        out["bad_cf"] = e.code().name
    print(json.dumps(out))


if __name__ == "__main__":
    main()
