#!/usr/bin/env python3
"""make_seeds.py: writes the hand-made seeds of tests/fuzz/corpus/ (run from anywhere; the
files it writes are committed; crash files found by the fuzzers are added next to them by
hand, named crash-<what>)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def message(flags, mtype, body=b""):
    # magic, version, type, source, destination, body_size, checksum, sequence, order_id,
    # correlation, timestamp_ns, port, reserved0, reserved1 (64 bytes), then the 192-byte body.
    header = struct.pack("<IHHBBHIQQQqIIQ", 0x474D5346, 2, mtype, 7, 5, 0, 0, 1, 42, 9, 1, 0, 0, 0)
    return bytes([flags]) + header + body.ljust(192, b"\0")


def batch(flags, records, state=b"", outbox=b""):
    rec = b""
    for rtype, payload in records:
        rec += struct.pack("<IHHIIQq", 0x524A5346, 2, rtype, len(payload), 0, 7, 1000) + payload
    header = struct.pack("<IHHIIIIII", 0x424A5346, 2, 0, len(records), len(rec), len(state), len(outbox), 0, 0)
    return bytes([flags]) + struct.pack(">Q", 1) + header + rec + state + outbox


def entry(tag, key, value):
    stored = value.rstrip(b"\0")
    return struct.pack("<HHHH", tag, len(key), len(value), len(stored)) + key + stored


def main():
    item = struct.pack("<IIq", 1, 1, 100)
    put("message_fuzz", "place_order", message(3, 1, struct.pack("<QQqB", 7, 0, 0, 1).ljust(24, b"\0") + item))
    put("message_fuzz", "command_reply", message(3, 63, struct.pack("<HHIQq", 0, 0, 0, 5, 100)))
    put("message_fuzz", "create_user", message(3, 32, b"buyer"))
    put("message_fuzz", "unsealed", message(0, 13))
    put("batch_fuzz", "one_record", batch(3, [(1, b"\1\2\3\4")]))
    put("batch_fuzz", "entries", batch(3, [(2, b"")], entry(1, b"\0" * 8, b"row\0\0"), entry(3, b"k", b"\0" * 256)))
    put("batch_fuzz", "empty", batch(3, []))
    put("config_fuzz", "small.toml", '[deployment]\ndata_dir = "d"\ndurability = "interval"\n'
        'fsync_interval_ms = 50\n[rings]\nports = 4\nsaga_capacity_slots = 1024\n[http]\nport = 0\n'
        'address = "0.0.0.0"\n[payment]\nadapter = "pg"\npg_decline_permille = 10\n')
    put("config_fuzz", "bad_value.toml", '[journal]\nmap_size_mib = 64\nmap_size_max_mib = 8\n')
    put("config_fuzz", "unknown_key.toml", '[http]\nthreads = 4\nspeed = "fast"\n')
    order = '{"user_id":1,"items":[{"product_id":1,"quantity":2}],"coupon_id":3,"points":5}'
    put("http_fuzz", "order", "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(order), order))
    put("http_fuzz", "pipeline", "GET /healthz HTTP/1.1\r\n\r\nGET /products?limit=2&after=x HTTP/1.1\r\n\r\n"
        "POST /users HTTP/1.1\r\nIdempotency-Key: k1\r\nContent-Length: 2\r\n\r\n{}"
        "GET /orders/5?wait=100 HTTP/1.1\r\nConnection: close\r\n\r\n")
    put("http_fuzz", "chunked", "PATCH /products/3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Expect: 100-continue\r\n\r\n4\r\n{\"na\r\n9\r\nme\":\"x\"}\r\n0\r\n\r\n")
    put("http_fuzz", "http10", "HEAD /stats HTTP/1.0\r\n\r\nGET /openapi.json HTTP/1.0\r\n\r\n")
    put("json_body_fuzz", "order", b"\x09\x01" + order.encode())
    put("json_body_fuzz", "user", b"\x00\x01" + b'{"name":"Ann","email":"ann@example.com"}')
    put("json_body_fuzz", "patch_user", b"\x01\x02" + b'{"blocked":true,"name":null}')
    put("json_body_fuzz", "points", b"\x02\x03" + b'{"points":100,"reason":"gift"}')
    put("json_body_fuzz", "deposit", b"\x03\x04" + b'{"amount":1e3}')
    put("json_body_fuzz", "template", b"\x04\x00" + b'{"name":"t","discount":{"type":"fixed","amount":100},'
        b'"min_amount":0,"valid_from":"2026-01-01T00:00:00Z","valid_until":"2027-01-01T00:00:00Z","limit":10}')
    put("json_body_fuzz", "coupon", b"\x05\x00" + b'{"template_id":1,"user_id":2}')
    put("json_body_fuzz", "product", b"\x06\x00" + b'{"name":"p","price":100,"stock":10,"max_per_user":1,'
        b'"sale_starts_at":"2026-03-01T09:00:00Z","sale_ends_at":null}')
    put("json_body_fuzz", "patch_product", b"\x07\x05" + b'{"price":5,"name":"q"}')
    put("json_body_fuzz", "restock", b"\x08\x05" + b'{"quantity":5}')
    put("json_body_fuzz", "cancel", b"\x0a\x05" + b'{"reason":"operator"}')


if __name__ == "__main__":
    main()
