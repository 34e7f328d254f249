"""The shard hash of docs/PROTOCOL.md ("Shard hash"), computed locally.

``shard_for(id)`` must give the same shard as a host's ``shard`` op: it is part of the
protocol (FNV-1a 64 over the id's bytes, then the MurmurHash3 fmix64 finalizer). So is the
default placement, rendezvous hashing ("Rendezvous weight"), which a client that knows the
membership view can use to find an actor's owner itself.
"""

__all__ = ["id_hash", "shard_for", "id_bytes", "rendezvous_weight", "rendezvous_owner"]

_M64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def id_bytes(actor_id):
    """The raw bytes a host hashes and compares for ``actor_id``: UTF-8 for a ``str``.

    Raises TypeError for anything but ``str``, ``bytes``, ``bytearray`` or ``memoryview``.
    """
    if isinstance(actor_id, str):
        return actor_id.encode("utf-8", "surrogateescape")
    if isinstance(actor_id, (bytes, bytearray, memoryview)):
        return bytes(actor_id)
    raise TypeError(f"actor id must be str or bytes, not {type(actor_id).__name__}")


def _fmix64(h):
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    h ^= h >> 33
    return h


def id_hash(actor_id):
    """The unsigned 64-bit ``id_hash`` of an actor id (str as UTF-8, or bytes)."""
    h = _FNV_OFFSET
    for b in id_bytes(actor_id):
        h = ((h ^ b) * _FNV_PRIME) & _M64
    return _fmix64(h)


def shard_for(actor_id, shards=4096):
    """``id_hash(actor_id) mod shards``: the shard of an actor id among ``shards`` shards.

    ``shards`` must be a positive int (hosts default to 4096, ``meshd --shards``).
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive int, not {shards!r}")
    return id_hash(actor_id) % shards


_GOLDEN = 0x9E3779B97F4A7C15


def rendezvous_weight(host, shard):
    """The rendezvous weight of host name ``host`` (str as UTF-8, or bytes) for ``shard``."""
    return _fmix64(id_hash(host) ^ ((shard * _GOLDEN) & _M64))


def rendezvous_owner(hosts, shard):
    """The owner of ``shard`` among ``hosts`` (names) under the ``rendezvous`` strategy.

    The host with the largest weight wins; on equal weights the smaller name (byte order).
    Returns the name as given. Raises ValueError for no hosts.
    """
    hosts = list(hosts)
    if not hosts:
        raise ValueError("at least one host is needed")
    return min(hosts, key=lambda h: (-rendezvous_weight(h, shard), id_bytes(h)))
