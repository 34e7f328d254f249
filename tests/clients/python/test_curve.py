"""mesh_client against a keyed meshd (docs/SECURITY.md): key files written by the real
`meshctl keygen`, read by mesh_client.load_curve_keys; an authorized key is served, an unknown
key or no key gets nothing (the call times out and never runs)."""

import os
import shutil
import subprocess
import tempfile
import unittest

from mesh_test_support import MISSING, MeshHost, env_path, plugin_dir, requires_deps, wait_until

if MISSING is None:
    from mesh_client import Client, MeshTimeout, load_curve_keys


def keygen(path):
    subprocess.run([env_path("MESHCTL"), "keygen", "--out", path], check=True, timeout=10,
                   stdout=subprocess.DEVNULL)


@requires_deps
class CurveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keys = tempfile.mkdtemp(prefix="mesh-pytest-keys-")
        cls.addClassCleanup(shutil.rmtree, cls.keys, True)
        for name in ("cluster", "ann", "eve"):
            keygen(os.path.join(cls.keys, name + ".key"))
        cls.plugins = plugin_dir(include_fixtures=False)
        cls.addClassCleanup(shutil.rmtree, cls.plugins, True)
        cls.host = MeshHost(cls.plugins, "--capabilities", "counter",
                            "--curve-secret", cls.key("cluster.key"),
                            "--authorized-keys", cls.key("ann.key.pub"))
        cls.addClassCleanup(cls.host.stop)

    @classmethod
    def key(cls, name):
        return os.path.join(cls.keys, name)

    def client(self, curve):
        # A generous default for the calls that must succeed (a loaded CI machine); the calls
        # that must time out pass their own short timeout.
        c = Client(self.host.endpoint, timeout=5, curve=curve)
        self.addCleanup(c.close)
        return c

    def test_an_authorized_key_is_served_and_strangers_get_nothing(self):
        ann = self.client(load_curve_keys(self.key("cluster.key.pub"), self.key("ann.key")))
        eve = self.client(load_curve_keys(self.key("cluster.key.pub"), self.key("eve.key")))
        plain = self.client(None)
        for stranger in (eve, plain):
            with self.assertRaises(MeshTimeout):
                stranger.call("Counter", "py-target", {"op": "incr"}, "counter", timeout=0.5)
        reply, actor = ann.call("Counter", "py-target", {"op": "get"}, "counter")
        self.assertEqual(reply, {"count": 0})  # the strangers' increments never ran
        # The host's authenticator thread writes the denial; wait for it rather than race it.
        denied = "auth denied: requests reason=unknown_key"
        wait_until(lambda: denied in self.host.log(), timeout=5)
        self.assertIn(denied, self.host.log())

    def test_malformed_keys_are_refused_before_connecting(self):
        with self.assertRaises(ValueError):
            Client(self.host.endpoint, curve=("short", "keys", "here"))
        with self.assertRaises(ValueError):
            load_curve_keys(self.key("cluster.key.pub"), self.key("ann.key.pub"))


if __name__ == "__main__":
    unittest.main()
