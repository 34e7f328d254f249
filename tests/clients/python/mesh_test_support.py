"""Helpers for the Python client's tests: real meshd hosts on 127.0.0.1, plugin directories,
and scripted ZeroMQ ROUTER peers. Every wait is bounded; only processes started here are
stopped (terminate, wait, then kill).

Environment (set by tests/clients/python/CMakeLists.txt): MESHD (path of meshd),
MESH_EXAMPLE_PLUGIN_DIR, MESH_FIXTURE_PLUGIN_DIR, and PYTHONPATH including clients/python.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    import msgpack
    import zmq

    import mesh_client

    MISSING = None
except ImportError as e:  # CI installs python3-zmq and python3-msgpack; say why we skip
    MISSING = f"mesh_client tests skipped: {sys.executable} cannot import {e.name} ({e})"
    print(MISSING, file=sys.stderr)

#: Decorator for test classes that need pyzmq and msgpack.
requires_deps = unittest.skipIf(MISSING is not None, MISSING or "")

EXAMPLE_PLUGINS = ("libmesh_examples.so", "libmesh_counter.so", "libmesh_echo.so")
FIXTURE_PLUGINS = ("libfixture_probe.so", "libfixture_bad_reply.so", "libfixture_ctor_throws.so")


def env_path(name):
    """The path in environment variable `name`; fails the test run clearly if it is unset."""
    value = os.environ.get(name)
    if not value or not os.path.exists(value):
        raise RuntimeError(f"{name} must name an existing path (got {value!r}); run through "
                           "ctest, or set it by hand")
    return value


def wait_until(condition, timeout, step=0.02):
    """Polls `condition` until it is true or `timeout` seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def plugin_dir(include_fixtures=True):
    """A fresh temporary plugin directory holding the example plugins (and the fixtures).

    Files are copied to a temporary name and renamed, as users should. The caller removes it.
    """
    target = tempfile.mkdtemp(prefix="mesh-pytest-plugins-")
    sources = [(env_path("MESH_EXAMPLE_PLUGIN_DIR"), EXAMPLE_PLUGINS)]
    if include_fixtures:
        sources.append((env_path("MESH_FIXTURE_PLUGIN_DIR"), FIXTURE_PLUGINS))
    for directory, names in sources:
        for name in names:
            part = os.path.join(target, name + ".part")
            shutil.copyfile(os.path.join(directory, name), part)
            os.rename(part, os.path.join(target, name))
    return target


class MeshHost:
    """One real meshd on tcp://127.0.0.1:* with its own work directory and log."""

    def __init__(self, plugins, *args):
        """Starts meshd serving `plugins` with extra `args` and waits (15 s max) until ready."""
        self.dir = tempfile.mkdtemp(prefix="mesh-pytest-host-")
        ready = os.path.join(self.dir, "ready")
        self.log_path = os.path.join(self.dir, "meshd.log")
        argv = [env_path("MESHD"), "--listen", "tcp://127.0.0.1:*", "--plugins", plugins,
                "--ready-file", ready, "--scan-interval", "100ms", *args]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        if not wait_until(lambda: os.path.exists(ready) or self.process.poll() is not None, 15):
            pass
        if not os.path.exists(ready):
            self.stop()
            raise RuntimeError(f"meshd did not start; log:\n{self.log()}")
        with open(ready) as f:
            self.endpoint = f.read().strip()

    def log(self):
        """The host's log so far."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, wait up to 15 s, then SIGKILL; removes the work directory. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class ScriptedRouter:
    """A ROUTER on 127.0.0.1 served by a thread: `answer(envelope)` returns a list of reply
    frames (bytes) to send back for each request, or None to stay silent.

    `requests` records every decoded request. Stop with `close()` (bounded).
    """

    def __init__(self, answer=None):
        self.answer = answer
        self.requests = []
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if not self._sock.poll(20):
                continue
            frames = self._sock.recv_multipart()
            identity, body = frames[0], frames[-1]
            try:
                envelope = msgpack.unpackb(body, raw=False, strict_map_key=False)
            except Exception:
                envelope = body
            self.requests.append(envelope)
            replies = self.answer(envelope) if self.answer else None
            for reply in replies or []:
                self._sock.send_multipart([identity, reply])

    def close(self):
        """Stops the thread (within about a second) and closes the socket."""
        self._stop.set()
        self._thread.join(5)
        self._sock.close(linger=0)


def unused_endpoint():
    """A 127.0.0.1 endpoint whose port was free a moment ago (nobody listens on it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def pack(value):
    """MessagePack with bytes as bin, as the protocol wants."""
    return msgpack.packb(value, use_bin_type=True)
