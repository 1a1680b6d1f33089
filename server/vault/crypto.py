"""One vault field sealed with AES-GCM, bound to its customer and field name, naming its key version.

A sealed field is ``1 (format) | key version (2 bytes) | nonce (12) | ciphertext+tag``. The
customer id, field name and key version are authenticated data: a value copied to another
customer or field, or relabelled with another key version, fails to open instead of reading
as someone else's data. The key version lets a rotation re-encrypt field by field while
both keys are in the ring.
"""

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 1
KEY_LEN = 32
NONCE_LEN = 12
_HEAD = struct.Struct(">BH")


class VaultError(Exception):
    """A vault field that cannot be sealed or opened; the message says what to do."""


def _aad(customer, field, version):
    return b"possync-vault\x00%s\x00%s\x00%d" % (customer.encode(), field.encode(), version)


def seal(key, version, customer, field, value):
    """Encrypt text ``value`` of ``customer``'s ``field`` under ``key`` (key version ``version``)."""
    if len(key) != KEY_LEN:
        raise VaultError("vault key version %d is %d bytes, expected %d" % (version, len(key), KEY_LEN))
    if not 0 < version < 1 << 16:
        raise VaultError("vault key version %r is out of range 1-65535" % (version,))
    if not isinstance(value, str):
        raise VaultError("vault field %s must be text, not %s" % (field, type(value).__name__))
    nonce = os.urandom(NONCE_LEN)
    head = _HEAD.pack(FORMAT, version)
    return head + nonce + AESGCM(key).encrypt(nonce, value.encode("utf-8"), _aad(customer, field, version))


def version_of(blob):
    """The key version a sealed field was encrypted under."""
    if len(blob) < _HEAD.size + NONCE_LEN + 16 or blob[0] != FORMAT:
        raise VaultError("not a sealed vault field (format %r, %d bytes)" % (blob[:1], len(blob)))
    return _HEAD.unpack_from(blob)[1]


def open_field(ring, customer, field, blob):
    """Decrypt a sealed field with the key of its version from ``ring`` ({version: key})."""
    version = version_of(blob)
    key = ring.get(version)
    if key is None:
        raise VaultError("vault key version %d is not loaded (have %s): restore that key to read %s of %s"
                         % (version, ", ".join(str(v) for v in sorted(ring)) or "none", field, customer))
    start = _HEAD.size + NONCE_LEN
    try:
        plain = AESGCM(key).decrypt(blob[_HEAD.size:start], bytes(blob[start:]), _aad(customer, field, version))
    except InvalidTag:
        raise VaultError("vault field %s of %s does not open with key version %d: it was altered, "
                         "or belongs to another customer or field" % (field, customer, version))
    return plain.decode("utf-8")
