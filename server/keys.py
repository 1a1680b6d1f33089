"""Key files and device keys at rest: AES-GCM under a master key that never enters the database."""

import binascii
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

KEY_LEN = 32
NONCE_LEN = 12
MASTER_ENV = "POSSYNC_SECRET_KEY"


class KeyStoreError(Exception):
    """A key file or sealed key that cannot be used; the message says what to do."""


def load_key_file(path, create=True):
    """Return the 32 raw bytes in ``path``, creating it (mode 0600) with random bytes if missing.

    Creation is atomic (write a temporary file, then link it into place), so two
    processes starting together end up with the same key.
    """
    if not os.path.exists(path) and create:
        _create_key_file(path)
    try:
        with open(path, "rb") as f:
            key = f.read()
            mode = os.fstat(f.fileno()).st_mode
    except OSError as exc:
        raise KeyStoreError("cannot read key file %s (%s)" % (path, exc.strerror))
    if len(key) != KEY_LEN:
        raise KeyStoreError("key file %s holds %d bytes, expected %d (restore it from backup)" % (path, len(key), KEY_LEN))
    if mode & 0o077:
        log.warning("key file %s is readable by group or others: chmod 600 it", path)
    return key


def _create_key_file(path):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(KEY_LEN))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dirfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def master_key(path, environ=os.environ):
    """The master key: hex from $POSSYNC_SECRET_KEY if set, else the key file (created if missing)."""
    text = environ.get(MASTER_ENV)
    if text:
        try:
            key = binascii.unhexlify(text.strip())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_LEN:
            raise KeyStoreError("%s must be %d hex digits" % (MASTER_ENV, 2 * KEY_LEN))
        return key
    return load_key_file(path)


def seal(master, dev, secret):
    """Encrypt ``secret`` for storage: nonce || AES-GCM ciphertext, bound to device ``dev``."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(master).encrypt(nonce, secret, dev.encode())


def unseal(master, dev, blob):
    """Decrypt what ``seal`` made for ``dev``; a wrong master key or device raises KeyStoreError."""
    blob = bytes(blob)
    try:
        return AESGCM(master).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], dev.encode())
    except InvalidTag:
        raise KeyStoreError("device %s: stored key does not decrypt (wrong master key?)" % dev)
