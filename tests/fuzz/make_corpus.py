#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

Run with Debian's python3 and python3-msgpack: /usr/bin/python3 tests/fuzz/make_corpus.py
The output is committed; rerunning rewrites the same files (names are content hashes, and the
directories are emptied first). Seeds are small valid messages of every kind the decoders accept
plus near misses (wrong types, missing fields, limits just over), so that libFuzzer starts from
every branch of each decoder instead of having to discover the envelope layout.
"""
import hashlib
import hmac
import os
import shutil

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def write(target, items):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return len(items)


def requests():
    payload = pack({"action": "move", "x": 1, "y": 2})
    base = {"v": 1, "op": "call", "rid": 7, "cap": "game", "mod": "GameActor", "id": "player_1"}
    out = [
        pack({**base, "payload": payload, "timeout_ms": 5000}),
        pack({**base, "payload": payload, "init": pack({"start": 3})}),
        pack({**base, "id": b"\x00\x01bin-id", "payload": None}),
        pack({**base, "op": "cast", "payload": pack([1, 2, 3])}),
        pack({"v": 1, "op": "ping", "rid": 1}),
        pack({"v": 1, "op": "capabilities", "rid": 2}),
        pack({"v": 1, "op": "members", "rid": 3}),
        pack({"v": 1, "op": "stats", "rid": 3}),
        pack({"v": 1, "op": "actors", "rid": 3, "limit": 10, "mod": "Counter", "after": b"c"}),
        pack({"v": 1, "op": "shard", "rid": 4, "id": "player_1"}),
        pack({"v": 1, "op": "nodes_for", "rid": 5, "cap": "chat"}),
        pack({"v": 1, "op": "owner", "rid": 6, "cap": "chat", "id": "room"}),
        pack({"v": 1, "op": "register_capabilities", "rid": 8, "caps": ["a", "b"]}),
        # the call chain of actors' requests (host services)
        pack({**base, "payload": payload, "chain": ["Relay/a", "RelayW/b"], "timeout_ms": 900}),
        pack({**base, "op": "cast", "chain": ["Relay/" + "x" * 250], "once": True}),
        pack({**base, "chain": ["A/1"] * 17}),     # one hop too many
        pack({**base, "chain": ["A/1", 7]}),       # a hop that is not a string
        pack({**base, "chain": "A/1"}),            # not an array
        pack({**base, "chain": ["y" * 300]}),      # a hop too long
        # near misses
        pack({"v": 2, "op": "ping"}),
        pack({"v": 1, "op": "nope"}),
        pack({**base, "payload": b"\x92\x01"}),   # payload not one object
        pack({**base, "timeout_ms": 0}),
        pack({**base, "extra": {"nested": [[[[]]]]}}),
        pack({1: 2}),
        pack([1, 2, 3]),
        b"\xdf\xff\xff\xff\xff",                   # map32 declaring 4G entries
        b"\xc6\xff\xff\xff\xff",                   # bin32 declaring 4 GiB
        b"\xc7\x01\x05\x00",                       # ext
    ]
    return out


def replies():
    return [
        pack({"v": 1, "rid": 7, "ok": True, "reply": pack({"x": 1}),
              "actor": {"host": "node1", "mod": "GameActor", "id": "p1", "act": 3}}),
        pack({"v": 1, "rid": 7, "ok": True}),
        pack({"v": 1, "rid": 7, "ok": True, "host": "node1", "shards": 4096,
              "capabilities": ["game"], "members": [{"name": "n1", "status": "alive"}]}),
        pack({"v": 1, "rid": 7, "ok": False, "error": {"code": "unknown_module", "msg": "no"}}),
        pack({"v": 1, "rid": 7, "ok": False,
              "error": {"code": "wrong_owner", "msg": "moved", "owner": "node2"}}),
        pack({"v": 1, "rid": 7, "ok": False, "error": {"code": "from_the_future", "msg": "?"}}),
        pack({"v": 1, "rid": 7}),
        pack({"v": 1, "rid": 7, "ok": True, "actor": {"id": b"\x00bin"}}),
        pack({"ok": True, "actor": [1]}),
    ]


def forward_headers():
    return [
        pack({"v": 1, "fwd": 1, "from": "node1", "epoch": 3, "hops": 0}),
        pack({"v": 1, "fwd": 1}),
        pack({"v": 1, "fwd": 9, "retry": True, "owner": "node3"}),
        pack({"v": 1, "fwd": 9, "from": "n", "epoch": 1, "hops": 2 ** 40, "retry": False}),
        pack({"v": 1, "from": "node1"}),
        pack({"v": 1, "fwd": -1}),
    ]


def record(name, status=None, **kw):
    r = {"name": name, "inc": 1, "ver": 4, "endpoint": "tcp://127.0.0.1:7100",
         "gossip": "tcp://127.0.0.1:7101", "caps": ["chat", "game"], "shards": 4096,
         "strategy": "rendezvous", "leaving": False}
    r.update(kw)
    if status is not None:
        r["status"] = status
    return r


def gossip():
    return [
        pack({"v": 1, "from": record("node1"), "seq": 12,
              "members": [record("node2", "alive"), record("node3", "suspect", leaving=True)]}),
        pack({"v": 1, "from": record("node1"), "seq": 0, "members": []}),
        pack({"v": 1, "from": record("node1", caps=["b", "a", "b"]), "seq": 1,
              "members": [record("n", "dead"), record("m", "leaving")]}),
        pack({"v": 2, "from": record("node1"), "seq": 1, "members": []}),
        pack({"v": 1, "from": record(""), "seq": 1}),
        pack({"v": 1, "from": record("node1"), "members": [record("x", "weird")]}),
        pack({"v": 1, "from": record("node1", shards=2 ** 40)}),
        pack({"v": 1, "from": {"name": "x", "caps": "notalist"}}),
        # limits just over: 257 capabilities in a member record, 1025-byte name
        pack({"v": 1, "from": record("node1"), "seq": 2,
              "members": [record("x", "alive", caps=[str(i) for i in range(257)])]}),
        pack({"v": 1, "from": record("n" * 1025), "seq": 2}),
    ]


def beacons():
    key = hashlib.sha256(b"fuzz secret").digest()  # the key discovery_beacon.cpp signs with
    good = pack({"v": 1, "name": "host-a", "gossip": "tcp://127.0.0.1:7101", "ts": 1700000000123})
    return [
        good,
        good + hmac.new(key, good, hashlib.sha256).digest(),
        good + b"\x00" * 32,
        pack({"v": 1, "name": "h", "gossip": "tcp://[::1]:7101", "ts": -5}),
        pack({"v": 1, "name": "h", "gossip": "tcp://0.0.0.0:7101", "ts": 1}),
        pack({"v": 1, "name": "h", "gossip": "tcp://host.example.:65535", "ts": 1, "x": [1]}),
        pack({"v": 2, "name": "h", "gossip": "tcp://h:1", "ts": 1}),
        pack({"v": 1, "name": "h", "name2": "h", "gossip": "udp://h:1", "ts": 1}),
    ]


def client_json():
    return [
        pack({"player": "p1", "x": 1, "y": -2, "score": 0.5, "tags": ["a", None, True]}),
        pack({1: "int key", b"bin": b"bin key", (1, 2): "array key"}),
        pack([[[[[[[[]]]]]]]]),
        pack(msgpack.ExtType(5, b"ext")),
        pack(float("nan")),
        pack(2 ** 64 - 1),
        pack(-(2 ** 63)),
        pack("é ü \u2603"),
        b"\xa3\xff\xfe\xfd",  # str that is not UTF-8
        b"\xca\x7f\x80\x00\x00",  # float32 inf
    ]


def main():
    counts = {
        "request_envelope": write("request_envelope", requests()),
        "reply_envelope": write("reply_envelope", replies()),
        "forward_header": write("forward_header", forward_headers()),
        "gossip_message": write("gossip_message", gossip()),
        "discovery_beacon": write("discovery_beacon", beacons()),
        "client_json": write("client_json", client_json()),
    }
    for target, n in counts.items():
        print(f"{target}: {n} files")


if __name__ == "__main__":
    main()
