"""mesh_client against one real meshd (example plugins plus the Probe, BadReply and Fragile
fixtures) on 127.0.0.1: calls with state, init_arg, cast, crash, every host error that can be
provoked, host and client timeouts, and the shard hash against the host's `shard` op."""

import os
import random
import shutil
import time
import unittest

from mesh_test_support import MISSING, MeshHost, ScriptedRouter, pack, plugin_dir, requires_deps

if MISSING is None:
    import msgpack
    import zmq

    from mesh_client import ActorRef, Client, MeshError, MeshTimeout, id_bytes, shard_for

# Every capability of the plugins but `payment`, which a test registers at run time.
SERVED = "game,chat,counter,bench,probe,probe2,probe3"


def unique(prefix):
    """An actor id no other test uses."""
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


@requires_deps
class SingleHostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plugins = plugin_dir()
        cls.addClassCleanup(shutil.rmtree, cls.plugins, True)
        cls.host = MeshHost(cls.plugins, "--name", "py1", "--capabilities", SERVED)
        cls.addClassCleanup(cls.host.stop)

    def setUp(self):
        self.client = Client(self.host.endpoint, timeout=5)
        self.addCleanup(self.client.close)

    def expect_error(self, code, f, *args, **kwargs):
        with self.assertRaises(MeshError) as cm:
            f(*args, **kwargs)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        self.assertEqual(cm.exception.origin, "host")
        self.assertFalse(cm.exception.client_side)
        return cm.exception

    # ------------------------------------------------------------------------ example actors

    def test_game_actor_keeps_its_state_across_calls_and_uses_init_only_on_activation(self):
        player = unique("player")
        reply, actor = self.client.call("GameActor", player, {"action": "move", "x": 1, "y": 2},
                                        "game", init_arg={"level": 3})
        self.assertEqual(reply, {"player": player, "x": 1, "y": 2, "score": 0, "level": 3})
        self.assertIsInstance(actor, ActorRef)
        self.assertEqual((actor.host, actor.module, actor.id), ("py1", "GameActor", player))
        self.assertGreaterEqual(actor.activation, 1)
        reply, again = self.client.call("GameActor", player, {"action": "score", "points": 250},
                                        "game", init_arg={"level": 9})
        self.assertEqual(reply["x"], 1)
        self.assertEqual(reply["score"], 250)
        # level = start level + score / 100: the start level is still 3, {"level": 9} ignored
        self.assertEqual(reply["level"], 5)
        self.assertEqual(again.activation, actor.activation)
        reply, _ = self.client.call("GameActor", player, {"action": "get"}, "game")
        self.assertEqual((reply["x"], reply["y"], reply["score"]), (1, 2, 250))

    def test_counter_counts_with_a_start_from_init_and_ignores_a_later_init(self):
        c = unique("counter")
        self.assertEqual(self.client.call("Counter", c, {"op": "incr"}, "counter",
                                          init_arg={"start": 10})[0], {"count": 11})
        self.assertEqual(self.client.call("Counter", c, {"op": "incr", "by": 5}, "counter",
                                          init_arg={"start": 100})[0], {"count": 16})
        self.assertEqual(self.client.call("Counter", c, {"op": "get"}, "counter")[0],
                         {"count": 16})

    def test_chat_actor_keeps_its_history(self):
        room = unique("room")
        for i, text in enumerate(["hi", "ユーザ", "bye"], 1):
            reply, _ = self.client.call("ChatActor", room,
                                        {"action": "post", "user": "ann", "text": text}, "chat")
            self.assertEqual(reply, {"messages": i})
        reply, _ = self.client.call("ChatActor", room, {"action": "history", "last": 2}, "chat")
        self.assertEqual(reply, {"messages": [{"user": "ann", "text": "ユーザ", "seq": 2},
                                              {"user": "ann", "text": "bye", "seq": 3}]})

    def test_echo_returns_any_payload_unchanged(self):
        payloads = [None, 1, -5, 2**63, "text", b"\x00\xffbin", [1, [2, {"k": None}]],
                    {1: "int key", "x": 1.5}, True]
        for p in payloads:
            with self.subTest(payload=p):
                reply, actor = self.client.call("Echo", "echo", p, "bench")
                self.assertEqual(reply, p)
                self.assertEqual(actor.module, "Echo")

    def test_a_bytes_id_and_a_str_id_with_the_same_bytes_are_one_actor(self):
        c = unique("same")
        self.client.call("Counter", c.encode(), {"op": "incr", "by": 4}, "counter")
        reply, actor = self.client.call("Counter", c, {"op": "get"}, "counter")
        self.assertEqual(reply, {"count": 4})
        self.assertEqual(actor.id, c)

    def test_a_non_utf8_bytes_id_comes_back_usable_as_the_same_actor(self):
        raw = b"\xff\xfe-" + unique("bin").encode()
        _, actor = self.client.call("Counter", raw, {"op": "incr", "by": 2}, "counter")
        self.assertEqual(id_bytes(actor.id), raw)
        reply, again = self.client.call("Counter", actor.id, {"op": "incr"}, "counter")
        self.assertEqual(reply, {"count": 3})
        self.assertEqual(again.activation, actor.activation)

    def test_a_cast_is_acknowledged_and_a_following_call_sees_its_effect(self):
        c = unique("cast")
        self.assertIsNone(self.client.cast("Counter", c, {"op": "incr", "by": 5}, "counter",
                                           init_arg={"start": 100}))
        self.assertIsNone(self.client.cast("Counter", c, {"op": "incr", "by": 2}, "counter"))
        self.assertEqual(self.client.call("Counter", c, {"op": "get"}, "counter")[0],
                         {"count": 107})

    def test_a_crash_discards_the_actor_and_the_next_call_gets_a_fresh_one(self):
        c = unique("crash")
        _, first = self.client.call("Counter", c, {"op": "incr", "by": 7}, "counter")
        err = self.expect_error("actor_error", self.client.call, "Counter", c, {"op": "crash"},
                                "counter")
        self.assertTrue(err.message)
        reply, fresh = self.client.call("Counter", c, {"op": "get"}, "counter",
                                        init_arg={"start": 1})
        self.assertEqual(reply, {"count": 1})  # state lost, the new init used
        self.assertNotEqual(fresh.activation, first.activation)
        player = unique("p")
        _, before = self.client.call("GameActor", player, {"action": "get"}, "game")
        self.expect_error("actor_error", self.client.call, "GameActor", player,
                          {"action": "crash"}, "game")
        _, after = self.client.call("GameActor", player, {"action": "get"}, "game")
        self.assertNotEqual(after.activation, before.activation)

    def test_payment_is_not_served_until_registered_then_keeps_a_balance(self):
        account = unique("acct")
        self.expect_error("capability_not_served", self.client.call, "PaymentActor", account,
                          {"action": "balance"}, "payment")
        caps = self.client.register_capabilities(["payment"])
        self.assertEqual(caps, sorted(SERVED.split(",") + ["payment"]))
        self.assertIn("payment", self.client.capabilities().caps)
        reply, _ = self.client.call("PaymentActor", account,
                                    {"action": "credit", "amount": 50, "request_id": "r1"},
                                    "payment", init_arg={"balance": 10})
        self.assertEqual(reply, {"balance": 60, "applied": True, "duplicate": False})
        reply, _ = self.client.call("PaymentActor", account,
                                    {"action": "charge", "amount": 20, "request_id": "r2"},
                                    "payment")
        self.assertEqual(reply["balance"], 40)
        self.expect_error("rejected", self.client.call, "PaymentActor", account,
                          {"action": "charge", "amount": 1000, "request_id": "r3"}, "payment")
        self.assertEqual(self.client.call("PaymentActor", account, {"action": "balance"},
                                          "payment")[0], {"balance": 40})

    # -------------------------------------------------------------------------- host errors

    def test_routing_errors_map_to_their_codes(self):
        self.expect_error("unknown_capability", self.client.call, "GameActor", "p", {}, "nope")
        self.expect_error("unknown_module", self.client.call, "NoSuchActor", "p", {}, "game")
        self.expect_error("capability_mismatch", self.client.call, "GameActor", "p",
                          {"action": "get"}, "chat")
        self.expect_error("unknown_capability", self.client.cast, "GameActor", "p", {}, "nope")
        self.expect_error("unknown_module", self.client.cast, "NoSuchActor", "p", {}, "game")

    def test_bad_payloads_are_rejected_and_the_actor_is_kept(self):
        player = unique("rej")
        self.client.call("GameActor", player, {"action": "move", "x": 4, "y": 5}, "game")
        _, before = self.client.call("GameActor", player, {"action": "get"}, "game")
        self.expect_error("rejected", self.client.call, "GameActor", player, {"action": "fly"},
                          "game")
        self.expect_error("rejected", self.client.call, "GameActor", player, {"action": "move"},
                          "game")
        self.expect_error("rejected", self.client.call, "GameActor", player, "not a map", "game")
        reply, after = self.client.call("GameActor", player, {"action": "get"}, "game")
        self.assertEqual((reply["x"], reply["y"]), (4, 5))
        self.assertEqual(after.activation, before.activation)

    def test_a_failing_constructor_is_activation_failed_and_a_good_init_then_works(self):
        self.expect_error("activation_failed", self.client.call, "GameActor", unique("lvl"),
                          {"action": "get"}, "game", init_arg={"level": 0})
        f = unique("fragile")
        self.expect_error("activation_failed", self.client.call, "Fragile", f, {}, "probe3")
        self.assertEqual(self.client.call("Fragile", f, {}, "probe3",
                                          init_arg={"ok": True})[0], {"ok": True, "id": f})

    def test_a_malformed_actor_reply_is_bad_reply(self):
        for op in ("truncated", "trailing", "huge", "other"):
            with self.subTest(op=op):
                self.expect_error("bad_reply", self.client.call, "BadReply", "b", {"op": op},
                                  "probe2")

    def test_envelopes_the_host_cannot_decode_get_rid_zero_errors_with_their_codes(self):
        base = {"op": "call", "cap": "counter", "mod": "Counter", "id": "x"}
        self.expect_error("bad_request", self.client.request, dict(base, payload=b"\xc1"))
        self.expect_error("bad_request", self.client.request, dict(base, payload="a str"))
        self.expect_error("bad_request", self.client.request, dict(base, timeout_ms=0))
        self.expect_error("bad_request", self.client.request, {"op": "call", "cap": "counter"})
        self.expect_error("unknown_op", self.client.request, {"op": "no_such_op"})
        self.expect_error("unsupported_version", self.client.request, {"op": "ping", "v": 2})
        # The client is still in step: the next request gets its own answer.
        self.assertEqual(self.client.ping().host, "py1")

    def test_a_frame_over_the_hosts_limit_is_too_large(self):
        self.expect_error("too_large", self.client.call, "Echo", "big", b"x" * (1 << 20),
                          "bench")
        self.assertEqual(self.client.call("Echo", "small", b"x" * 1000, "bench")[0],
                         b"x" * 1000)

    # ----------------------------------------------------------------------------- timeouts

    def test_a_slow_actor_past_its_deadline_is_a_host_side_timeout(self):
        start = time.monotonic()
        with self.assertRaises(MeshTimeout) as cm:
            self.client.call("Probe", unique("slow"), {"op": "sleep", "ms": 1500}, "probe",
                             timeout=0.3)
        elapsed = time.monotonic() - start
        self.assertEqual(cm.exception.code, "timeout")
        self.assertFalse(cm.exception.client_side)  # the host answered, not our own wait
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 1.3)

    def test_a_call_within_its_deadline_answers(self):
        reply, _ = self.client.call("Probe", unique("quick"), {"op": "sleep", "ms": 50}, "probe",
                                    timeout=2)
        self.assertEqual(reply, {"slept": 50})

    def test_a_call_first_sent_to_a_silent_endpoint_times_out_and_is_not_resent(self):
        silent = ScriptedRouter(None)
        self.addCleanup(silent.close)
        c = unique("ghost")
        with Client([silent.endpoint, self.host.endpoint], timeout=2) as client:
            start = time.monotonic()
            with self.assertRaises(MeshTimeout) as cm:
                client.call("Counter", c, {"op": "incr"}, "counter", timeout=0.2)
            self.assertTrue(cm.exception.client_side)
            self.assertLess(time.monotonic() - start, 2.5)
            # The next request goes to the host, which never saw the first increment.
            self.assertEqual(client.call("Counter", c, {"op": "get"}, "counter")[0],
                             {"count": 0})
        self.assertEqual(len(silent.requests), 1)

    def test_a_query_fails_over_from_a_silent_endpoint_to_the_host(self):
        silent = ScriptedRouter(None)
        self.addCleanup(silent.close)
        with Client([silent.endpoint, self.host.endpoint], timeout=0.3) as client:
            self.assertEqual(client.ping().host, "py1")
            self.assertEqual(client.capabilities().host, "py1")

    # ------------------------------------------------------------------------------ queries

    def test_ping_and_capabilities_describe_the_host(self):
        ping = self.client.ping()
        self.assertEqual((ping.host, ping.shards), ("py1", 4096))
        caps = self.client.capabilities()
        self.assertEqual(caps.host, "py1")
        for cap in SERVED.split(","):
            self.assertIn(cap, caps.caps)
        self.assertEqual(caps.caps, sorted(caps.caps))
        modules = {m["mod"]: (m["cap"], m["plugin"]) for m in caps.modules}
        self.assertEqual(modules["GameActor"], ("game", "libmesh_examples.so"))
        self.assertEqual(modules["Counter"], ("counter", "libmesh_counter.so"))
        self.assertEqual(modules["PaymentActor"][0], "payment")  # loaded even when not served

    def test_a_lone_host_answers_the_cluster_queries_about_itself(self):
        membership = self.client.members()
        self.assertEqual([m.name for m in membership.members], ["py1"])
        self.assertTrue(membership.members[0].is_self)
        self.assertEqual(self.client.nodes_for("game"), ["py1"])
        owner = self.client.owner("player_1", "game")
        self.assertEqual((owner.owner, owner.shard, owner.shards), ("py1", 2486, 4096))
        self.expect_error("unknown_capability", self.client.owner, "player_1", "nope")

    def test_local_shard_for_matches_the_hosts_shard_op(self):
        rng = random.Random(20240601)
        ids = ["player_1", "a", "ユーザ", "chat:room-42", "😀 emoji", "ünïcödé", "x" * 1000]
        ids += [f"actor-{i}" for i in range(150)]
        ids += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
                for _ in range(150)]
        for actor_id in ids:
            shard, shards = self.client.remote_shard(actor_id)
            self.assertEqual(shards, 4096)
            self.assertEqual(shard_for(actor_id), shard, repr(actor_id))
        self.assertEqual(self.client.remote_shard("player_1"), (2486, 4096))


@requires_deps
class ShardCountTest(unittest.TestCase):
    def test_a_host_with_another_shard_count_agrees_with_shard_for_of_that_count(self):
        plugins = plugin_dir(include_fixtures=False)
        self.addCleanup(shutil.rmtree, plugins, True)
        host = MeshHost(plugins, "--shards", "97")
        self.addCleanup(host.stop)
        with Client(host.endpoint) as client:
            self.assertEqual(client.ping().shards, 97)
            for i in range(200):
                actor_id = f"id-{i}-é"
                self.assertEqual(client.remote_shard(actor_id), (shard_for(actor_id, 97), 97))


@requires_deps
class OverloadTest(unittest.TestCase):
    def test_a_host_at_its_inflight_limit_answers_overloaded(self):
        plugins = plugin_dir()
        self.addCleanup(shutil.rmtree, plugins, True)
        host = MeshHost(plugins, "--max-inflight", "1")
        self.addCleanup(host.stop)
        # Take the only slot with a slow call sent on a plain DEALER (the client is synchronous).
        busy = zmq.Context.instance().socket(zmq.DEALER)
        busy.setsockopt(zmq.LINGER, 0)
        self.addCleanup(busy.close)
        busy.connect(host.endpoint)
        busy.send(pack({"v": 1, "op": "call", "rid": 77, "cap": "probe", "mod": "Probe",
                        "id": "busy", "payload": pack({"op": "sleep", "ms": 1500})}))
        time.sleep(0.5)  # let the host accept it
        with Client(host.endpoint) as client:
            with self.assertRaises(MeshError) as cm:
                client.call("Counter", "c", {"op": "get"}, "counter", timeout=1)
            self.assertEqual(cm.exception.code, "overloaded")
            self.assertFalse(cm.exception.client_side)
            self.assertTrue(busy.poll(5000), "the slow call never answered")
            reply = msgpack.unpackb(busy.recv(), raw=False)
            self.assertEqual((reply["rid"], reply["ok"]), (77, True))
            self.assertEqual(msgpack.unpackb(reply["reply"]), {"slept": 1500})
            # The slot is free again.
            self.assertEqual(client.call("Counter", "c", {"op": "get"}, "counter")[0],
                             {"count": 0})


if __name__ == "__main__":
    unittest.main()
