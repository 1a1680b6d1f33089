"""HMAC-SHA256 written over hashlib.sha256, since device firmware may lack ``hmac``.

Where the interpreter's ``hmac`` has the one-shot C ``digest`` (CPython 3.7+), that is
used instead: same bytes, several times faster on the server's hot path.
"""

import binascii
import hashlib

try:
    import hmac as _hmac
except ImportError:
    _hmac = None
_fast = getattr(_hmac, "digest", None)
_fast_equal = getattr(_hmac, "compare_digest", None)

_BLOCK = 64


def _pad(key, byte):
    return bytes((k ^ byte) for k in key)


def hmac_sha256(key, msg):
    """Return the 32-byte HMAC-SHA256 of ``msg`` (bytes) under ``key`` (bytes), RFC 2104."""
    if _fast is not None:
        return _fast(key, msg, "sha256")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (_BLOCK - len(key))
    inner = hashlib.sha256(_pad(key, 0x36))
    inner.update(msg)
    outer = hashlib.sha256(_pad(key, 0x5C))
    outer.update(inner.digest())
    return outer.digest()


def hexmac(key, msg):
    """Return the HMAC-SHA256 as 64 lowercase hex characters (bytes)."""
    return binascii.hexlify(hmac_sha256(key, msg))


def equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if _fast_equal is not None:
        return _fast_equal(a, b)
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
