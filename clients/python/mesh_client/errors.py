"""Exceptions raised by :mod:`mesh_client`.

Every failure is a :class:`MeshError` with a wire-style ``code``. ``origin`` says who decided
it: ``"host"`` for an error reply from a meshd host (``code`` is then one of the error codes of
docs/PROTOCOL.md, or a newer one), ``"client"`` for a failure found by this client (no reply in
time, a reply that cannot be decoded, a ZeroMQ failure).
"""

__all__ = ["MeshError", "MeshTimeout", "ProtocolError", "TransportError"]


class MeshError(Exception):
    """An error reply from a host, or a client-side failure.

    Attributes:
        code: the error code string, e.g. ``"unknown_module"``, ``"actor_error"``,
            ``"timeout"``. Compare codes, never messages: messages may change.
        message: the human-readable text (the reply's ``error.msg`` for host errors).
        origin: ``"host"`` when a host sent this error, ``"client"`` when the client raised it.
        details: the whole ``error`` map of a host reply (it may carry more keys than
            ``code`` and ``msg``, e.g. ``owner`` for ``wrong_owner``); empty for client errors.
    """

    def __init__(self, code, message, *, origin="host", details=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.origin = origin
        self.details = dict(details) if details else {}

    @property
    def client_side(self):
        """True when the client raised this error rather than a host."""
        return self.origin == "client"

    def __repr__(self):
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, origin={self.origin!r})"


class MeshTimeout(MeshError):
    """A deadline passed; ``code`` is always ``"timeout"``.

    ``client_side`` (``origin == "client"``) is True when no reply arrived within the client's
    wait: the host or the network is in trouble, and whether the request ran is unknown. It is
    False when the host itself answered ``timeout`` (the call's ``timeout_ms`` passed on the
    host; the handler may still have run or may still run).
    """

    def __init__(self, message, *, origin="client", details=None):
        super().__init__("timeout", message, origin=origin, details=details)


class ProtocolError(MeshError):
    """A reply that is not a valid reply envelope (client side, code ``"protocol_error"``)."""

    def __init__(self, message):
        super().__init__("protocol_error", message, origin="client")


class TransportError(MeshError):
    """A ZeroMQ failure, or a client used after ``close()`` (client side, code ``"transport"``)."""

    def __init__(self, message):
        super().__init__("transport", message, origin="client")
