"""CurveZMQ key files as ``meshctl keygen`` writes them (docs/SECURITY.md#key-files).

A key pair file has ``public-key: Z85`` and ``secret-key: Z85`` lines; a ``.pub`` file one line
``Z85 [name]``. Blank lines and ``#`` comments (a line starting with ``#`` that is not a whole
key: ``#`` is a Z85 letter) are skipped.
"""

from collections import namedtuple

_Z85 = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

#: What :class:`mesh_client.Client` needs to talk to a keyed cluster: the cluster's public key
#: and the client's key pair, each 40 characters of Z85 (str or bytes).
CurveKeys = namedtuple("CurveKeys", "server_key public_key secret_key")


def is_z85_key(text):
    """Whether ``text`` is a 40-character Z85 key."""
    return isinstance(text, str) and len(text) == 40 and all(c in _Z85 for c in text)


def _lines(path):
    with open(path, encoding="ascii") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#") and not is_z85_key(line.split()[0]):
                continue
            yield number, line


def read_key_pair(path):
    """``(public_key, secret_key)`` from a key pair file. Raises ValueError naming the line."""
    fields = {}
    for number, line in _lines(path):
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or name not in ("public-key", "secret-key") or name in fields:
            raise ValueError(f"{path}:{number}: expected 'public-key: KEY' or 'secret-key: KEY'")
        if not is_z85_key(value):
            raise ValueError(f"{path}:{number}: {name} is not a 40-character Z85 key")
        fields[name] = value
    if len(fields) != 2:
        raise ValueError(f"{path}: not a key pair file (needs public-key and secret-key)")
    return fields["public-key"], fields["secret-key"]


def read_public_key(path):
    """The public key of a ``.pub`` file (its one key line) or of a key pair file."""
    keys = []
    for number, line in _lines(path):
        if line.startswith(("public-key", "secret-key")):
            return read_key_pair(path)[0]
        key = line.split()[0]
        if not is_z85_key(key):
            raise ValueError(f"{path}:{number}: expected a 40-character Z85 public key")
        keys.append(key)
    if len(keys) != 1:
        raise ValueError(f"{path}: expected exactly one public key, found {len(keys)}")
    return keys[0]


def load_curve_keys(server_key_file, client_key_file):
    """:class:`CurveKeys` from the cluster's public key file and the client's key pair file."""
    public_key, secret_key = read_key_pair(client_key_file)
    return CurveKeys(read_public_key(server_key_file), public_key, secret_key)
