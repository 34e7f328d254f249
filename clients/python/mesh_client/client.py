"""A synchronous Mesh client over ZeroMQ DEALER sockets (docs/PROTOCOL.md, version 1)."""

import secrets
import time
from collections import namedtuple

import msgpack
import zmq

from .errors import MeshError, MeshTimeout, ProtocolError, TransportError
from .keys import CurveKeys, is_z85_key
from .shard import id_bytes, shard_for

__all__ = [
    "ActorRef",
    "Capabilities",
    "Client",
    "Member",
    "Membership",
    "Owner",
    "Ping",
    "PROTOCOL_VERSION",
]

#: The protocol major version this client speaks (the envelope's ``v``).
PROTOCOL_VERSION = 1

_M64 = (1 << 64) - 1
_MAX_TIMEOUT_MS = 3_600_000
# Codes meaning "the request was not accepted": sending it to another host is safe even for
# call and cast.
_NOT_ACCEPTED = frozenset({"shutting_down", "overloaded"})
# How long an endpoint that did not answer in time is passed over by the round robin.
_DOWN_FOR = 10.0

ActorRef = namedtuple("ActorRef", "host module id activation")
ActorRef.__doc__ = """The actor that served a call (the reply's ``actor`` map).

``host`` is the name of the host that ran the handler, ``module`` and ``id`` name the actor
(``id`` is a str as the host echoes it; an id that was bytes and not valid UTF-8 comes back
with its bad bytes as surrogate escapes, see ``mesh_client.id_bytes``), and ``activation`` is
the activation number: a different number than last time means the actor was re-created and
its in-memory state was lost."""

Capabilities = namedtuple("Capabilities", "host caps modules cluster_caps")
Capabilities.__doc__ = """What a host serves (the ``capabilities`` op).

``caps``: sorted capabilities the host serves; ``modules``: list of dicts ``{"mod", "cap",
"plugin"}`` for every loaded module; ``cluster_caps``: every capability some host in its view
has (None from a host that does not send it)."""

Member = namedtuple(
    "Member", "name endpoint gossip caps status incarnation version is_self last_heard_ms")
Member.__doc__ = """One host of a cluster as another host sees it (``members`` op).

``status`` is ``"alive"``, ``"suspect"``, ``"dead"`` or ``"leaving"``; ``is_self`` is the
record's ``self`` key (the answering host itself)."""

Membership = namedtuple("Membership", "epoch members")
Membership.__doc__ = """A host's view: ``epoch`` (the hash of the view) and ``members``, a list
of :class:`Member` sorted by name, the answering host included."""

Owner = namedtuple("Owner", "shard shards owner endpoint")
Owner.__doc__ = """Where an actor lives (``owner`` op): its shard of ``shards``, the owning
host's name and that host's request endpoint."""

Ping = namedtuple("Ping", "host shards rtt")
Ping.__doc__ = """A ``ping`` answer: the host's name, its shard count, and the round-trip time
in seconds as measured by the client."""


def _check_name(what, value):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


def _check_names(what, values):
    """One str or an iterable of them, as a non-empty list of non-empty str."""
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"at least one {what} is needed")
    for v in values:
        _check_name(what, v)
    return values


def _check_id(actor_id):
    raw = id_bytes(actor_id)  # TypeError for other types
    if not raw:
        raise ValueError("actor id must not be empty")
    if isinstance(actor_id, str):
        try:
            actor_id.encode("utf-8")
            return actor_id
        except UnicodeEncodeError:  # surrogate escapes (e.g. an ActorRef.id): send the bytes
            return raw
    return raw


def _check_timeout(timeout, limit=_MAX_TIMEOUT_MS / 1000):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout or (limit is not None and timeout > limit):
        bound = "" if limit is None else f", at most {limit:g}"
        raise ValueError(f"timeout must be a positive number of seconds{bound}, not {timeout}")
    return float(timeout)


def _pack(value):
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"cannot encode {type(value).__name__} as MessagePack: {e}") from None


def _unpack_value(data, what):
    """Decodes the bytes of one embedded MessagePack object (a reply's ``reply`` bin)."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False,
                               unicode_errors="surrogateescape")
    except Exception as e:  # msgpack raises many types for malformed input
        raise ProtocolError(f"{what} is not one MessagePack object: {e}") from None


class Client:
    """A client for one or more meshd hosts.

    ``endpoints`` is one ``tcp://host:port`` string or a list of them. Any host accepts any
    request and forwards it to the actor's owner, so each request goes to one endpoint chosen
    round robin (one DEALER socket per endpoint, linger 0). An endpoint that let a request time
    out is passed over for 10 s unless every endpoint is.

    Fail-over: queries (``ping``, ``capabilities``, ``members``, ``nodes_for``, ``owner``,
    ``remote_shard``) and ``register_capabilities`` are safe to resend, so when an endpoint
    gives no reply within ``timeout`` the same request is sent to the next endpoint, each
    endpoint at most once: a query can take up to ``timeout`` times the number of endpoints
    before :class:`MeshTimeout` is raised. ``call`` and ``cast`` are never resent after they
    may have reached a host (a host that got the request may have run it): a client-side
    timeout on them raises :class:`MeshTimeout` at once. Every operation (``call`` and
    ``cast`` included) moves on to the next endpoint when a host answers ``shutting_down`` or
    ``overloaded``, which mean the request was not accepted.

    After a client-side timeout the endpoint's socket is replaced, so a request still queued
    for an unreachable host is discarded instead of being delivered when it comes back.

    ``timeout`` (seconds) is the default wait for every operation but ``call``, which takes its
    own. A Client is not thread-safe (ZeroMQ sockets belong to one thread): use one per thread.
    Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, endpoints, *, timeout=5.0, context=None, curve=None):
        """Connects one DEALER socket per endpoint (connecting does not wait for the host).

        ``context`` is an optional ``zmq.Context`` to use (default: ``zmq.Context.instance()``).
        ``curve``, for a cluster started with keys (docs/SECURITY.md), is a
        :class:`mesh_client.CurveKeys` (``load_curve_keys(server_key_file, client_key_file)``):
        every socket then uses CURVE. A host that does not accept the key never answers: the
        requests time out.
        Raises ValueError for no endpoints or an empty one or malformed keys, TransportError
        when ZeroMQ refuses an endpoint.
        """
        if curve is not None:
            curve = CurveKeys(*(k.decode("ascii") if isinstance(k, bytes) else k for k in curve))
            if not all(is_z85_key(k) for k in curve):
                raise ValueError("curve: three 40-character Z85 keys (server, public, secret)")
        self._curve = curve
        endpoints = self._endpoints = _check_names("endpoint", endpoints)
        self._timeout = _check_timeout(timeout)
        self._context = context or zmq.Context.instance()
        self._sockets = [None] * len(endpoints)
        self._down_until = [0.0] * len(endpoints)
        self._next = 0
        self._rid = secrets.randbits(64)
        self._closed = False
        try:
            for i in range(len(endpoints)):
                self._sockets[i] = self._connect(i)
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def endpoints(self):
        """The endpoints, in round-robin order (a copy)."""
        return list(self._endpoints)

    def close(self):
        """Closes every socket without waiting for unsent requests. Safe to call twice."""
        self._closed = True
        for i, s in enumerate(self._sockets):
            if s is not None:
                s.close(linger=0)
                self._sockets[i] = None

    def __enter__(self):
        """Returns the client itself."""
        return self

    def __exit__(self, *exc):
        """Closes the client."""
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------------------ actors

    def call(self, module, id, payload, capability, init_arg=None, timeout=5.0):
        """Sends ``payload`` to actor (``module``, ``id``) and returns ``(reply, actor)``.

        ``payload`` and ``init_arg`` are any MessagePack-encodable Python values (bytes become
        bin); ``init_arg`` reaches the actor's constructor only if this call activates it and is
        ignored otherwise (None sends no ``init``). ``id`` is a str or bytes (the host compares
        raw bytes: ``"a"`` and ``b"a"`` are the same actor). ``timeout`` (seconds, at most 3600)
        is sent as the host's deadline ``timeout_ms``; the client waits one second more for the
        answer.

        Returns the decoded reply value and an :class:`ActorRef`. Raises ValueError/TypeError
        for bad arguments (nothing is sent), :class:`MeshError` for a host error (e.g.
        ``rejected``, ``actor_error``: the next call gets a fresh actor), :class:`MeshTimeout`
        (``client_side`` False when the host's deadline passed, True when no reply came: the
        call is then NOT resent to another host, since the first one may have run it).
        """
        envelope = self._actor_envelope("call", module, id, payload, capability, init_arg)
        timeout = _check_timeout(timeout)
        envelope["timeout_ms"] = max(1, min(_MAX_TIMEOUT_MS, round(timeout * 1000)))
        reply = self.request(envelope, timeout=timeout + 1.0, resend=False)
        actor = reply.get("actor")
        data = reply.get("reply")
        if not isinstance(actor, dict) or not isinstance(data, bytes):
            raise ProtocolError("a call reply needs a bin 'reply' and an 'actor' map")
        try:
            ref = ActorRef(host=actor["host"], module=actor["mod"], id=actor["id"],
                           activation=actor["act"])
        except KeyError as e:
            raise ProtocolError(f"the reply's actor map lacks {e}") from None
        if not isinstance(ref.activation, int) or ref.activation < 0:
            raise ProtocolError("the reply's actor.act is not a uint")
        return _unpack_value(data, "the call's reply"), ref

    def cast(self, module, id, payload, capability, init_arg=None):
        """Sends a one-way ``payload`` to actor (``module``, ``id``); returns None once accepted.

        The host acknowledges as soon as it has accepted the message (capability and module
        found, not overloaded or stopping); the handler runs afterwards and its failure is not
        reported. Arguments as for :meth:`call`; the wait for the acknowledgement is the
        client's ``timeout``. A cast that got no acknowledgement is not resent (the host may
        have accepted it): :class:`MeshTimeout` is raised.
        """
        envelope = self._actor_envelope("cast", module, id, payload, capability, init_arg)
        self.request(envelope, resend=False)

    # ----------------------------------------------------------------------------- queries

    def ping(self):
        """Checks that a host answers; returns a :class:`Ping` (host name, shards, rtt)."""
        start = time.monotonic()
        reply = self.request({"op": "ping"}, resend=True)
        return Ping(host=reply.get("host"), shards=reply.get("shards"),
                    rtt=time.monotonic() - start)

    def capabilities(self):
        """What the answering host serves and loads: a :class:`Capabilities`."""
        reply = self.request({"op": "capabilities"}, resend=True)
        return Capabilities(host=reply.get("host"), caps=list(reply.get("caps") or []),
                            modules=list(reply.get("modules") or []),
                            cluster_caps=reply.get("cluster_caps"))

    def register_capabilities(self, caps):
        """Adds capabilities to the set the answering host serves (never removes any).

        ``caps`` is a non-empty list of non-empty str (or one str). Returns the full sorted
        list the host serves afterwards. With several endpoints only the host that answered
        registers them (then gossips them to the cluster). Safe to resend (adding twice is
        adding once), so it fails over like a query.
        """
        caps = _check_names("capability", caps)
        reply = self.request({"op": "register_capabilities", "caps": caps}, resend=True)
        return list(reply.get("caps") or [])

    def members(self):
        """The cluster as the answering host sees it: a :class:`Membership`.

        A host started without ``--gossip`` reports only itself.
        """
        reply = self.request({"op": "members"}, resend=True)
        members = []
        for m in reply.get("members") or []:
            if not isinstance(m, dict):
                raise ProtocolError("a members entry is not a map")
            members.append(Member(
                name=m.get("name"), endpoint=m.get("endpoint"), gossip=m.get("gossip"),
                caps=list(m.get("caps") or []), status=m.get("status"),
                incarnation=m.get("incarnation"), version=m.get("version"),
                is_self=bool(m.get("self")), last_heard_ms=m.get("last_heard_ms")))
        return Membership(epoch=reply.get("epoch"), members=members)

    def nodes_for(self, cap):
        """Names of the hosts (in the answering host's view) that have capability ``cap``."""
        reply = self.request({"op": "nodes_for", "cap": _check_name("capability", cap)},
                             resend=True)
        return list(reply.get("nodes") or [])

    def owner(self, id, cap):
        """Where actor ``id`` of capability ``cap`` lives: an :class:`Owner`.

        Raises MeshError ``unknown_capability`` when no host has ``cap``.
        """
        reply = self.request({"op": "owner", "cap": _check_name("capability", cap),
                              "id": _check_id(id)}, resend=True)
        return Owner(shard=reply.get("shard"), shards=reply.get("shards"),
                     owner=reply.get("owner"), endpoint=reply.get("endpoint"))

    def remote_shard(self, id):
        """Asks a host for ``id``'s shard under its shard count: returns ``(shard, shards)``."""
        reply = self.request({"op": "shard", "id": _check_id(id)}, resend=True)
        return reply.get("shard"), reply.get("shards")

    @staticmethod
    def shard_for(id, shards=4096):
        """The shard of actor ``id`` computed locally with the protocol's shard hash."""
        return shard_for(id, shards)

    # ----------------------------------------------------------------------- raw requests

    def request(self, envelope, *, timeout=None, resend=False):
        """Sends one request envelope and returns the decoded success reply (a dict).

        ``envelope`` is a dict of envelope fields; ``v`` (1) and a fresh non-zero ``rid`` are
        added unless present (an explicit ``v``/``rid`` is sent as given: for tests). Values are
        packed with ``use_bin_type=True`` (bytes become bin). ``timeout`` is the wait per
        endpoint in seconds (default: the client's). ``resend`` allows sending the request to
        the next endpoint when one gives no reply in time; only pass True for requests that are
        safe to run twice.

        Replies with another ``rid`` are dropped (late answers to abandoned requests); an
        error reply with ``rid`` 0 (the host could not decode the envelope) is taken as the
        answer, since each socket has at most one request in flight. Raises :class:`MeshError`
        for an error reply, :class:`MeshTimeout`, :class:`ProtocolError` or
        :class:`TransportError`.
        """
        if self._closed:
            raise TransportError("the client is closed")
        wait = self._timeout if timeout is None else _check_timeout(timeout, limit=None)
        envelope = dict(envelope)
        envelope.setdefault("v", PROTOCOL_VERSION)
        if "rid" not in envelope:
            envelope["rid"] = self._fresh_rid()
        frame = _pack(envelope)
        order = self._order()
        last_error = None
        for index in order:
            try:
                return self._exchange(index, frame, envelope["rid"], wait)
            except MeshTimeout as e:
                if not (resend and e.client_side):
                    raise
                last_error = e
            except _NotSent as e:
                last_error = TransportError(str(e))
            except MeshError as e:
                if e.client_side or e.code not in _NOT_ACCEPTED:
                    raise
                last_error = e
        raise last_error

    # ----------------------------------------------------------------------------- internals

    def _actor_envelope(self, op, module, actor_id, payload, capability, init_arg):
        envelope = {
            "op": op,
            "cap": _check_name("capability", capability),
            "mod": _check_name("module", module),
            "id": _check_id(actor_id),
            "payload": _pack(payload),
        }
        if init_arg is not None:
            envelope["init"] = _pack(init_arg)
        return envelope

    def _fresh_rid(self):
        self._rid = (self._rid + 1) & _M64
        if self._rid == 0:
            self._rid = 1
        return self._rid

    def _connect(self, index):
        try:
            s = self._context.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            if self._curve is not None:
                s.curve_serverkey = self._curve.server_key.encode("ascii")
                s.curve_publickey = self._curve.public_key.encode("ascii")
                s.curve_secretkey = self._curve.secret_key.encode("ascii")
            s.connect(self._endpoints[index])
            return s
        except zmq.ZMQError as e:
            raise TransportError(f"cannot connect to {self._endpoints[index]}: {e}") from None

    def _replace_socket(self, index):
        old = self._sockets[index]
        self._sockets[index] = None
        if old is not None:
            old.close(linger=0)
        self._sockets[index] = self._connect(index)

    def _order(self):
        """Endpoint indexes for one request: round robin, endpoints that timed out last."""
        n = len(self._endpoints)
        start = self._next
        self._next = (self._next + 1) % n
        order = [(start + k) % n for k in range(n)]
        now = time.monotonic()
        return ([i for i in order if self._down_until[i] <= now] +
                [i for i in order if self._down_until[i] > now])

    def _exchange(self, index, frame, rid, wait):
        """One request on one endpoint's socket: send, then receive until our reply."""
        sock = self._sockets[index]
        endpoint = self._endpoints[index]
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            raise _NotSent(f"cannot queue the request for {endpoint}") from None
        except zmq.ZMQError as e:
            raise _NotSent(f"cannot send to {endpoint}: {e}") from None
        deadline = time.monotonic() + wait
        done = False
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sock.poll(max(1, int(left * 1000) + 1), zmq.POLLIN):
                    if time.monotonic() < deadline:
                        continue
                    self._down_until[index] = time.monotonic() + _DOWN_FOR
                    raise MeshTimeout(f"no reply from {endpoint} within {wait:g} s")
                frames = sock.recv_multipart(zmq.NOBLOCK)
                reply = self._decode(frames)
                got = reply["rid"]
                if got == rid or (got == 0 and reply["ok"] is False):
                    done = True
                    self._down_until[index] = 0.0
                    return self._result(reply)
                # Anything else answers a request this socket gave up on: drop it.
        except zmq.ZMQError as e:
            raise TransportError(f"receiving from {endpoint}: {e}") from None
        finally:
            if not done:
                # Nothing may stay in flight on this socket: a late reply would be ambiguous
                # and a request still queued for an unreachable host must never run later.
                self._replace_socket(index)

    @staticmethod
    def _decode(frames):
        body = [f for f in frames if f]
        if len(body) != 1:
            raise ProtocolError(f"a reply must be one non-empty frame, got {len(frames)} frames")
        try:
            reply = msgpack.unpackb(body[0], raw=False, strict_map_key=False,
                                    unicode_errors="surrogateescape")
        except Exception as e:
            raise ProtocolError(f"the reply is not MessagePack: {e}") from None
        if not isinstance(reply, dict):
            raise ProtocolError("the reply is not a map")
        rid, ok = reply.get("rid"), reply.get("ok")
        if isinstance(rid, bool) or not isinstance(rid, int) or not 0 <= rid <= _M64:
            raise ProtocolError("the reply has no uint 'rid'")
        if not isinstance(ok, bool):
            raise ProtocolError("the reply has no bool 'ok'")
        return reply

    @staticmethod
    def _result(reply):
        if reply["ok"]:
            return reply
        error = reply.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ProtocolError("an error reply needs an 'error' map with a str 'code'")
        code, message = error["code"], error.get("msg")
        message = message if isinstance(message, str) else ""
        if code == "timeout":
            raise MeshTimeout(message, origin="host", details=error)
        raise MeshError(code, message, origin="host", details=error)


class _NotSent(Exception):
    """The request could not even be queued: safe to try another endpoint."""
