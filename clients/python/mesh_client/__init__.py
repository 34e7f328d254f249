"""mesh_client: a pure-Python client for Mesh hosts (meshd), written from docs/PROTOCOL.md.

Needs pyzmq and msgpack (Debian: python3-zmq, python3-msgpack)::

    from mesh_client import Client

    with Client(["tcp://127.0.0.1:7100", "tcp://127.0.0.1:7110"]) as mesh:
        reply, actor = mesh.call("GameActor", "player_1", {"action": "get"}, "game")
"""

from .client import (PROTOCOL_VERSION, ActorRef, Capabilities, Client, Member, Membership,
                     Owner, Ping)
from .errors import MeshError, MeshTimeout, ProtocolError, TransportError
from .keys import CurveKeys, load_curve_keys
from .shard import id_bytes, id_hash, rendezvous_owner, rendezvous_weight, shard_for

__all__ = [
    "ActorRef", "Capabilities", "Client", "CurveKeys", "Member", "Membership", "MeshError", "MeshTimeout",
    "Owner", "Ping", "PROTOCOL_VERSION", "ProtocolError", "TransportError", "id_bytes",
    "id_hash", "load_curve_keys", "rendezvous_owner", "rendezvous_weight", "shard_for",
]
__version__ = "0.1.0"
