"""mesh_client without a real host: the shard hash vectors of docs/PROTOCOL.md, argument
checks, and scripted ROUTER peers (late replies, rid-0 errors, garbage, silence)."""

import time
import unittest

from mesh_test_support import MISSING, ScriptedRouter, pack, requires_deps, unused_endpoint

if MISSING is None:
    from mesh_client import (Client, MeshError, MeshTimeout, ProtocolError, id_hash,
                             rendezvous_owner, rendezvous_weight, shard_for)

# (id, id_hash, shard of 4096, of 16, of 3): the table in docs/PROTOCOL.md, "Shard hash".
VECTORS = [
    (b"", 0xEFD01F60BA992926, 2342, 6, 2),
    ("a", 0x82A2A958A9BECE5B, 3675, 11, 2),
    ("player_1", 0x6DAB13BC51CE39B6, 2486, 6, 2),
    ("chat:room-42", 0x6480135E545ABB19, 2841, 9, 1),
    ("GameActor/player_2", 0xA5368BF773842636, 1590, 6, 2),
    ("x" * 1000, 0x27C232BEF26106BA, 1722, 10, 2),
    ("ユーザ", 0x4602F0ADFF56301F, 31, 15, 2),
    (b"\x00\xff", 0xACB64F88D28B68B8, 2232, 8, 0),
]

# (host, shard, weight): docs/PROTOCOL.md, "Rendezvous weight".
WEIGHTS = [
    ("node1", 0, 0x340FCA2F800A2CB0),
    ("node1", 1, 0x3C365F594595502A),
    ("node2", 0, 0x7F3F3B2F0695F189),
    ("node3", 4095, 0xAEC53647088E1E24),
    (b"", 0, 0xC70B7D317E33BF45),
    ("h1", 2486, 0xF893AA404B7D6D10),
    ("ユーザ", 7, 0x72E5C4B85612D518),
]


def ok_reply(envelope, **fields):
    return pack({"v": 1, "rid": envelope["rid"], "ok": True, **fields})


@requires_deps
class ShardHashTest(unittest.TestCase):
    def test_the_documented_vectors_hash_and_shard_as_the_table_says(self):
        for actor_id, h, s4096, s16, s3 in VECTORS:
            with self.subTest(actor_id=actor_id[:20]):
                self.assertEqual(id_hash(actor_id), h)
                self.assertEqual(shard_for(actor_id), s4096)
                self.assertEqual(shard_for(actor_id, 16), s16)
                self.assertEqual(shard_for(actor_id, 3), s3)
                self.assertEqual(Client.shard_for(actor_id), s4096)

    def test_a_str_id_hashes_as_its_utf8_bytes(self):
        self.assertEqual(shard_for("ユーザ"), shard_for("ユーザ".encode()))
        self.assertEqual(id_hash("player_1"), id_hash(bytearray(b"player_1")))

    def test_bad_shard_counts_and_id_types_are_refused(self):
        for shards in (0, -1, 1.5, True, "4096"):
            with self.assertRaises(ValueError):
                shard_for("a", shards)
        with self.assertRaises(TypeError):
            shard_for(42)

    def test_rendezvous_weights_and_owners_match_the_documented_tables(self):
        for host, shard, weight in WEIGHTS:
            with self.subTest(host=host, shard=shard):
                self.assertEqual(rendezvous_weight(host, shard), weight)
        hosts = ["node3", "node1", "node2"]
        owners = [rendezvous_owner(hosts, s) for s in range(5)]
        self.assertEqual(owners, ["node2", "node3", "node1", "node1", "node1"])
        self.assertEqual(rendezvous_owner(hosts, shard_for("player_1")), "node2")
        with self.assertRaises(ValueError):
            rendezvous_owner([], 0)


@requires_deps
class ArgumentCheckTest(unittest.TestCase):
    def setUp(self):
        self.router = ScriptedRouter(lambda e: [ok_reply(e)])
        self.client = Client(self.router.endpoint, timeout=2)

    def tearDown(self):
        self.client.close()
        self.router.close()

    def test_empty_or_mistyped_names_raise_before_anything_is_sent(self):
        bad = [
            lambda: self.client.call("", "id", {}, "game"),
            lambda: self.client.call("GameActor", "", {}, "game"),
            lambda: self.client.call("GameActor", b"", {}, "game"),
            lambda: self.client.call("GameActor", "id", {}, ""),
            lambda: self.client.cast("", "id", {}, "game"),
            lambda: self.client.cast("GameActor", "id", {}, ""),
            lambda: self.client.nodes_for(""),
            lambda: self.client.owner("", "game"),
            lambda: self.client.owner("id", ""),
            lambda: self.client.remote_shard(""),
            lambda: self.client.register_capabilities([]),
            lambda: self.client.register_capabilities(["ok", ""]),
            lambda: self.client.call("GameActor", "id", {}, "game", timeout=0),
            lambda: self.client.call("GameActor", "id", {}, "game", timeout=3601),
            lambda: self.client.request({"op": "ping"}, timeout=-1),
            lambda: self.client.call("GameActor", "id", object(), "game"),
        ]
        for i, f in enumerate(bad):
            with self.subTest(case=i), self.assertRaises(ValueError):
                f()
        with self.assertRaises(TypeError):
            self.client.call("GameActor", 42, {}, "game")
        time.sleep(0.1)
        self.assertEqual(self.router.requests, [])

    def test_no_endpoint_or_an_empty_one_is_refused(self):
        with self.assertRaises(ValueError):
            Client([])
        with self.assertRaises(ValueError):
            Client(["tcp://127.0.0.1:1", ""])

    def test_a_closed_client_raises_transport(self):
        self.client.close()
        with self.assertRaises(MeshError) as cm:
            self.client.ping()
        self.assertEqual(cm.exception.code, "transport")
        self.assertTrue(cm.exception.client_side)


@requires_deps
class EnvelopeTest(unittest.TestCase):
    """What the client puts on the wire, seen by a scripted ROUTER."""

    def setUp(self):
        self.router = ScriptedRouter(self.answer)
        self.client = Client(self.router.endpoint, timeout=2)

    def tearDown(self):
        self.client.close()
        self.router.close()

    def answer(self, envelope):
        if envelope["op"] == "call":
            return [ok_reply(envelope, reply=pack({"echo": True}),
                             actor={"host": "fake", "mod": envelope["mod"], "id": "x", "act": 3,
                                    "future_key": 1})]
        return [ok_reply(envelope, host="fake", shards=4096)]

    def test_a_call_envelope_carries_payload_and_init_as_bin_and_a_fresh_rid(self):
        reply, actor = self.client.call("GameActor", "p1", {"action": "get"}, "game",
                                        init_arg={"level": 3}, timeout=2.5)
        self.assertEqual(reply, {"echo": True})
        self.assertEqual((actor.host, actor.module, actor.id, actor.activation),
                         ("fake", "GameActor", "x", 3))
        self.client.call("GameActor", b"p2", None, "game")
        first, second = self.router.requests
        self.assertEqual(first["v"], 1)
        self.assertEqual(first["op"], "call")
        self.assertEqual((first["cap"], first["mod"], first["id"]), ("game", "GameActor", "p1"))
        self.assertIsInstance(first["payload"], bytes)
        self.assertEqual(first["payload"], pack({"action": "get"}))
        self.assertEqual(first["init"], pack({"level": 3}))
        self.assertEqual(first["timeout_ms"], 2500)
        self.assertNotIn("init", second)
        self.assertEqual(second["id"], b"p2")
        self.assertEqual(second["payload"], b"\xc0")
        self.assertNotEqual(first["rid"], 0)
        self.assertNotEqual(first["rid"], second["rid"])
        self.assertLess(first["rid"], 1 << 64)

    def test_ping_reports_the_host_and_a_round_trip_time(self):
        ping = self.client.ping()
        self.assertEqual((ping.host, ping.shards), ("fake", 4096))
        self.assertGreater(ping.rtt, 0)
        self.assertEqual(self.router.requests[0]["op"], "ping")


@requires_deps
class ReplyMatchingTest(unittest.TestCase):
    """Replies are matched by rid; rid-0 errors and bad bytes are handled as documented."""

    def run_with(self, answer, timeout=2):
        router = ScriptedRouter(answer)
        self.addCleanup(router.close)
        client = Client(router.endpoint, timeout=timeout)
        self.addCleanup(client.close)
        return client, router

    def test_replies_with_other_rids_are_dropped_and_the_matching_one_returned(self):
        def answer(e):
            stale = dict(v=1, rid=(e["rid"] + 7) % (1 << 64) or 1, ok=True, host="stale",
                         shards=1)
            return [pack(stale), ok_reply(e, host="right", shards=4096)]

        client, _ = self.run_with(answer)
        self.assertEqual(client.ping().host, "right")

    def test_a_stale_reply_alone_ends_in_a_client_side_timeout(self):
        client, _ = self.run_with(lambda e: [pack(dict(v=1, rid=e["rid"] ^ 1, ok=True))],
                                  timeout=0.3)
        with self.assertRaises(MeshTimeout) as cm:
            client.ping()
        self.assertTrue(cm.exception.client_side)

    def test_a_rid_zero_error_is_the_answer_to_the_request_in_flight(self):
        client, _ = self.run_with(lambda e: [pack({"v": 1, "rid": 0, "ok": False, "error": {
            "code": "bad_request", "msg": "scripted"}})])
        with self.assertRaises(MeshError) as cm:
            client.ping()
        self.assertEqual((cm.exception.code, cm.exception.message), ("bad_request", "scripted"))
        self.assertFalse(cm.exception.client_side)
        self.assertNotIsInstance(cm.exception, MeshTimeout)

    def test_unknown_error_codes_and_extra_error_keys_come_through(self):
        client, _ = self.run_with(lambda e: [pack({"v": 1, "rid": e["rid"], "ok": False,
                                                   "error": {"code": "brand_new", "msg": "m",
                                                             "owner": "h2"}})])
        with self.assertRaises(MeshError) as cm:
            client.ping()
        self.assertEqual(cm.exception.code, "brand_new")
        self.assertEqual(cm.exception.details["owner"], "h2")

    def test_a_host_timeout_is_a_mesh_timeout_not_from_the_client(self):
        client, _ = self.run_with(lambda e: [pack({"v": 1, "rid": e["rid"], "ok": False,
                                                   "error": {"code": "timeout", "msg": "late"}})])
        with self.assertRaises(MeshTimeout) as cm:
            client.call("Probe", "p", {}, "probe")
        self.assertEqual(cm.exception.code, "timeout")
        self.assertFalse(cm.exception.client_side)

    def test_undecodable_or_malformed_replies_raise_protocol_error(self):
        cases = [
            lambda e: [b"\xc1"],                                        # not MessagePack
            lambda e: [pack([1, 2])],                                   # not a map
            lambda e: [pack({"v": 1, "rid": e["rid"]})],                # no ok
            lambda e: [pack({"v": 1, "rid": -1, "ok": True})],          # rid not a uint
            lambda e: [pack({"v": 1, "rid": e["rid"], "ok": False})],   # error without a map
            lambda e: [pack({"v": 1, "rid": e["rid"], "ok": False, "error": {"msg": "x"}})],
        ]
        for i, answer in enumerate(cases):
            with self.subTest(case=i):
                client, _ = self.run_with(answer)
                with self.assertRaises(ProtocolError) as cm:
                    client.ping()
                self.assertEqual(cm.exception.code, "protocol_error")
                self.assertTrue(cm.exception.client_side)

    def test_a_call_reply_whose_reply_bytes_are_not_one_object_is_a_protocol_error(self):
        client, _ = self.run_with(lambda e: [ok_reply(
            e, reply=b"\xc0\xc0", actor={"host": "h", "mod": "M", "id": "i", "act": 1})])
        with self.assertRaises(ProtocolError):
            client.call("M", "i", None, "c")


@requires_deps
class ClientTimeoutTest(unittest.TestCase):
    def test_a_silent_router_gives_a_client_side_timeout_within_the_bound(self):
        router = ScriptedRouter(None)  # receives, never answers
        self.addCleanup(router.close)
        with Client(router.endpoint, timeout=0.4) as client:
            start = time.monotonic()
            with self.assertRaises(MeshTimeout) as cm:
                client.ping()
            elapsed = time.monotonic() - start
        self.assertTrue(cm.exception.client_side)
        self.assertEqual(cm.exception.origin, "client")
        self.assertEqual(cm.exception.code, "timeout")
        self.assertGreaterEqual(elapsed, 0.39)
        self.assertLess(elapsed, 1.5)
        self.assertTrue(wait_for(lambda: len(router.requests) == 1))

    def test_a_call_to_a_silent_router_waits_its_timeout_plus_one_second(self):
        router = ScriptedRouter(None)
        self.addCleanup(router.close)
        with Client(router.endpoint) as client:
            start = time.monotonic()
            with self.assertRaises(MeshTimeout) as cm:
                client.call("Counter", "c", {"op": "get"}, "counter", timeout=0.2)
            elapsed = time.monotonic() - start
        self.assertTrue(cm.exception.client_side)
        self.assertGreaterEqual(elapsed, 1.19)
        self.assertLess(elapsed, 2.5)

    def test_an_unused_port_gives_a_client_side_timeout(self):
        with Client(unused_endpoint(), timeout=0.3) as client:
            start = time.monotonic()
            with self.assertRaises(MeshTimeout):
                client.capabilities()
            self.assertLess(time.monotonic() - start, 1.5)

    def test_queries_fail_over_to_the_next_endpoint_but_calls_are_not_resent(self):
        silent = ScriptedRouter(None)
        self.addCleanup(silent.close)
        good = ScriptedRouter(lambda e: [ok_reply(e, host="good", shards=4096)])
        self.addCleanup(good.close)
        with Client([silent.endpoint, good.endpoint], timeout=0.3) as client:
            start = time.monotonic()
            self.assertEqual(client.ping().host, "good")  # tried silent first, then good
            self.assertGreaterEqual(time.monotonic() - start, 0.29)
            self.assertTrue(wait_for(lambda: len(silent.requests) == 1))
            # silent is now passed over: queries go straight to good.
            for _ in range(3):
                self.assertEqual(client.ping().host, "good")
            self.assertEqual(len(silent.requests), 1)
        with Client([silent.endpoint, good.endpoint], timeout=0.3) as client:
            before = len(good.requests)
            with self.assertRaises(MeshTimeout):
                client.cast("Counter", "c", {"op": "incr"}, "counter")
            time.sleep(0.1)
            self.assertEqual(len(good.requests), before)  # the cast was not resent

    def test_shutting_down_moves_even_a_call_to_the_next_endpoint(self):
        stopping = ScriptedRouter(lambda e: [pack({"v": 1, "rid": e["rid"], "ok": False,
                                                   "error": {"code": "shutting_down",
                                                             "msg": "bye"}})])
        self.addCleanup(stopping.close)
        good = ScriptedRouter(lambda e: [ok_reply(e)])
        self.addCleanup(good.close)
        with Client([stopping.endpoint, good.endpoint], timeout=1) as client:
            self.assertIsNone(client.cast("Counter", "c", {"op": "incr"}, "counter"))
        self.assertEqual(len(stopping.requests), 1)
        self.assertEqual(len(good.requests), 1)


def wait_for(condition, timeout=2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not condition():
        time.sleep(0.01)
    return condition()


if __name__ == "__main__":
    unittest.main()
