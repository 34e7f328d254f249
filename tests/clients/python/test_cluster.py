"""mesh_client against a two-host cluster (meshd --gossip, --seeds, --profile test) on
127.0.0.1: membership queries, owner agreement, calls through either host landing on the
owner with one actor state, and a client of both hosts failing over when one is killed."""

import shutil
import time
import unittest

from mesh_test_support import MISSING, MeshHost, plugin_dir, requires_deps, wait_until

if MISSING is None:
    from mesh_client import Client, MeshError, rendezvous_owner, shard_for


def gossip_endpoint(endpoint):
    """The gossip endpoint a host reports for itself in `members` (bounded wait)."""
    with Client(endpoint, timeout=2) as client:
        def own():
            for m in client.members().members:
                if m.is_self and m.gossip:
                    return m.gossip
            return None

        return wait_until(own, 10, step=0.05)


def start_two_hosts(test_class, plugins):
    """Starts node1 (every capability) and node2 (game and counter, seeded by node1), stopped
    by `test_class`'s class cleanups, and waits until both see both alive in one view."""
    common = ["--profile", "test", "--idle-timeout", "10m", "--gossip", "tcp://127.0.0.1:*"]
    node1 = MeshHost(plugins, "--name", "node1", *common)
    test_class.addClassCleanup(node1.stop)
    seed = gossip_endpoint(node1.endpoint)
    if not seed:
        raise RuntimeError("node1 reports no gossip endpoint; log:\n" + node1.log())
    node2 = MeshHost(plugins, "--name", "node2", "--seeds", seed,
                     "--capabilities", "game,counter", *common)
    test_class.addClassCleanup(node2.stop)

    def converged():
        epochs = set()
        for node in (node1, node2):
            with Client(node.endpoint, timeout=2) as c:
                view = c.members()
            if {m.name for m in view.members if m.status == "alive"} != {"node1", "node2"}:
                return False
            epochs.add(view.epoch)
        return len(epochs) == 1 and 0 not in epochs

    if not wait_until(converged, 20, step=0.1):
        raise RuntimeError("the two hosts did not converge; logs:\n" + node1.log() + "\n" +
                           node2.log())
    return node1, node2


@requires_deps
class TwoHostClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plugins = plugin_dir(include_fixtures=False)
        cls.addClassCleanup(shutil.rmtree, cls.plugins, True)
        cls.node1, cls.node2 = start_two_hosts(cls, cls.plugins)
        cls.both = [cls.node1.endpoint, cls.node2.endpoint]

    def setUp(self):
        self.client = Client(self.both, timeout=5)
        self.addCleanup(self.client.close)
        self.one = Client(self.node1.endpoint, timeout=5)
        self.addCleanup(self.one.close)
        self.two = Client(self.node2.endpoint, timeout=5)
        self.addCleanup(self.two.close)

    def test_members_lists_both_hosts_alive_from_either_side(self):
        for c, me in ((self.one, "node1"), (self.two, "node2")):
            view = c.members()
            self.assertEqual([m.name for m in view.members], ["node1", "node2"])
            self.assertEqual({m.status for m in view.members}, {"alive"})
            self.assertEqual([m.name for m in view.members if m.is_self], [me])
            by_name = {m.name: m for m in view.members}
            self.assertEqual(by_name["node1"].endpoint, self.node1.endpoint)
            self.assertEqual(by_name["node2"].endpoint, self.node2.endpoint)
            self.assertEqual(sorted(by_name["node2"].caps), ["counter", "game"])
            self.assertIn("chat", by_name["node1"].caps)
        self.assertEqual(self.one.members().epoch, self.two.members().epoch)

    def test_nodes_for_names_the_hosts_with_each_capability(self):
        for c in (self.one, self.two, self.client, self.client):
            self.assertEqual(c.nodes_for("game"), ["node1", "node2"])
            self.assertEqual(c.nodes_for("chat"), ["node1"])
            self.assertEqual(c.nodes_for("no_such_cap"), [])
        self.assertIn("chat", self.two.capabilities().cluster_caps)

    def test_both_hosts_name_the_same_owner_the_documented_placement_gives(self):
        owners = set()
        for i in range(60):
            actor_id = f"owner-{i}"
            a, b = self.one.owner(actor_id, "game"), self.two.owner(actor_id, "game")
            self.assertEqual(a, b)
            self.assertEqual(a.shard, shard_for(actor_id))
            self.assertEqual(a.owner, rendezvous_owner(["node1", "node2"], a.shard))
            self.assertEqual(a.endpoint, {"node1": self.node1.endpoint,
                                          "node2": self.node2.endpoint}[a.owner])
            owners.add(a.owner)
        self.assertEqual(owners, {"node1", "node2"})  # 60 ids spread over both
        self.assertEqual(self.two.owner("room", "chat").owner, "node1")
        with self.assertRaises(MeshError) as cm:
            self.one.owner("x", "no_such_cap")
        self.assertEqual(cm.exception.code, "unknown_capability")

    def test_calls_through_either_host_land_on_the_owner_and_share_one_actor(self):
        for i in range(8):
            c = f"shared-counter-{i}-{time.monotonic_ns()}"
            owner = self.one.owner(c, "counter").owner
            r1, a1 = self.one.call("Counter", c, {"op": "incr"}, "counter")
            r2, a2 = self.two.call("Counter", c, {"op": "incr"}, "counter")
            r3, a3 = self.client.call("Counter", c, {"op": "incr"}, "counter")
            r4, a4 = self.client.call("Counter", c, {"op": "incr"}, "counter")  # other host
            self.assertEqual([r["count"] for r in (r1, r2, r3, r4)], [1, 2, 3, 4])
            self.assertEqual({a.host for a in (a1, a2, a3, a4)}, {owner})
            self.assertEqual(len({a.activation for a in (a1, a2, a3, a4)}), 1)

    def test_a_capability_only_node1_has_is_served_through_node2(self):
        room = f"room-{time.monotonic_ns()}"
        reply, actor = self.two.call("ChatActor", room,
                                     {"action": "post", "user": "u", "text": "t"}, "chat")
        self.assertEqual((reply, actor.host), ({"messages": 1}, "node1"))
        self.assertIsNone(self.two.cast("ChatActor", room,
                                        {"action": "post", "user": "u", "text": "t2"}, "chat"))
        reply, _ = self.one.call("ChatActor", room, {"action": "history"}, "chat")
        self.assertEqual([m["text"] for m in reply["messages"]], ["t", "t2"])
        with self.assertRaises(MeshError) as cm:
            self.two.call("GameActor", "p", {}, "no_such_cap")
        self.assertEqual(cm.exception.code, "unknown_capability")

    def test_round_robin_alternates_between_the_hosts(self):
        hosts = [self.client.ping().host for _ in range(4)]
        self.assertEqual(sorted(hosts), ["node1", "node1", "node2", "node2"])
        self.assertNotEqual(hosts[0], hosts[1])


@requires_deps
class HostCrashTest(unittest.TestCase):
    def test_a_client_of_both_hosts_fails_over_when_one_is_killed(self):
        plugins = plugin_dir(include_fixtures=False)
        self.addCleanup(shutil.rmtree, plugins, True)
        node1, node2 = start_two_hosts(type(self), plugins)
        with Client(node1.endpoint) as setup:
            c = next(f"crash-{i}" for i in range(1000)
                     if setup.owner(f"crash-{i}", "counter").owner == "node2")
            self.assertEqual(setup.call("Counter", c, {"op": "incr"}, "counter")[0],
                             {"count": 1})
        node2.process.kill()  # SIGKILL: no leave message, a crash to detect
        node2.process.wait(5)
        with Client([node2.endpoint, node1.endpoint], timeout=0.5) as client:
            start = time.monotonic()
            self.assertEqual(client.ping().host, "node1")  # node2 tried first, then node1
            self.assertGreaterEqual(time.monotonic() - start, 0.49)
            # node2 is passed over now; node1 takes its keys once it declares node2 dead (the
            # call waits for that: ~1 s with --profile test). Its state died with node2.
            reply, actor = client.call("Counter", c, {"op": "incr"}, "counter", timeout=8)
            self.assertEqual((reply, actor.host), ({"count": 1}, "node1"))
            self.assertEqual(client.nodes_for("counter"), ["node1"])
            self.assertEqual(client.owner(c, "counter").owner, "node1")

if __name__ == "__main__":
    unittest.main()
