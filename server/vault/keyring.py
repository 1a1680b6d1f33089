"""The vault key ring {version: 32-byte key}: from $POSSYNC_VAULT_KEYS or a key file, current = highest.

The key file is text, mode 0600, one ``<version> <64 hex digits>`` line per key (``#`` comments
and blank lines allowed). It is only ever replaced whole (temporary file, fsync, rename), so a
crash leaves the old ring or the new one, never half of either. Keys never appear in messages.
"""

import binascii
import logging
import os
import re

from server.vault.crypto import KEY_LEN, VaultError

log = logging.getLogger(__name__)

ENV = "POSSYNC_VAULT_KEYS"
MAX_VERSION = 65535
HEADER = "# possync vault keys: <version> <64 hex digits>, one per line. Back this file up; never share it.\n"


def current(ring):
    """The version new fields are sealed under: the highest in the ring."""
    return max(ring)


def load(path, environ=os.environ, create=True):
    """The ring from ``environ[ENV]`` if set, else from the key file ``path``.

    A missing key file is created with version 1 and a random key when ``create`` is true;
    with the environment variable set the file is neither read nor written.
    """
    text = environ.get(ENV)
    if text:
        return from_env(text)
    if create and not os.path.exists(path):
        _create(path, _format({1: os.urandom(KEY_LEN)}))
    return read_file(path)


def from_env(text):
    """Parse ``"1:hex,2:hex"`` as given in $POSSYNC_VAULT_KEYS."""
    ring = {}
    for n, item in enumerate(text.split(","), 1):
        version, sep, hexkey = item.strip().partition(":")
        if not sep:
            raise VaultError("%s item %d: expected VERSION:HEX (e.g. 1:<64 hex digits>), items separated by commas"
                             % (ENV, n))
        _add(ring, version, hexkey, "%s item %d" % (ENV, n))
    return ring


def read_file(path):
    """Parse the key file ``path``; warn when group or others may read it."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
            mode = os.fstat(f.fileno()).st_mode
    except FileNotFoundError:
        raise VaultError("vault key file %s is missing: restore it from backup (or set %s)" % (path, ENV))
    except OSError as exc:
        raise VaultError("cannot read vault key file %s (%s)" % (path, exc.strerror))
    except UnicodeError:
        raise VaultError("vault key file %s is not text: restore it from backup" % path)
    if mode & 0o077:
        log.warning("vault key file %s is readable by group or others: chmod 600 it", path)
    ring = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) != 2:
            raise VaultError("vault key file %s line %d: expected '<version> <64 hex digits>'" % (path, n))
        _add(ring, words[0], words[1], "vault key file %s line %d" % (path, n))
    if not ring:
        raise VaultError("vault key file %s holds no keys: restore it from backup" % path)
    return ring


def add_version(path):
    """Append a new random key to the key file; return its version (current + 1)."""
    def edit(ring):
        version = current(ring) + 1
        if version > MAX_VERSION:
            raise VaultError("vault key file %s: no key version left after %d" % (path, MAX_VERSION))
        ring[version] = os.urandom(KEY_LEN)
        return version
    return _change(path, edit)


def retire(path, version):
    """Remove key ``version`` from the key file; the caller checks that no field still uses it."""
    def edit(ring):
        if version not in ring:
            raise VaultError("vault key file %s has no key version %d (it has %s)"
                             % (path, version, ", ".join(str(v) for v in sorted(ring))))
        if len(ring) == 1:
            raise VaultError("key version %d is the only key in %s: it cannot be retired" % (version, path))
        del ring[version]
    _change(path, edit)


def _add(ring, version, hexkey, where):
    if not re.fullmatch("[0-9]{1,5}", version) or not 0 < int(version) <= MAX_VERSION:
        raise VaultError("%s: key version must be a whole number 1-%d" % (where, MAX_VERSION))
    if int(version) in ring:
        raise VaultError("%s: key version %d is given twice" % (where, int(version)))
    if len(hexkey) != 2 * KEY_LEN:
        raise VaultError("%s: key is %d hex digits, expected %d" % (where, len(hexkey), 2 * KEY_LEN))
    try:
        ring[int(version)] = binascii.unhexlify(hexkey)
    except (binascii.Error, ValueError):
        raise VaultError("%s: key is not hex digits" % where)


def _format(ring):
    return HEADER + "".join("%d %s\n" % (v, binascii.hexlify(ring[v]).decode()) for v in sorted(ring))


def _open_new(path):
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _write(fd, text):
    """Write ``text`` to the open file ``fd``, flush it to disk and close it."""
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path):
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path, text):
    """Create the key file unless it exists; two processes starting together end up with one file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    _write(_open_new(tmp), text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    _fsync_dir(path)


def _change(path, edit):
    """Replace the key file by ``edit(ring)``'s changes; ``path.new`` is both the new file and the lock."""
    tmp = path + ".new"
    try:
        fd = _open_new(tmp)
    except FileExistsError:
        raise VaultError("%s exists: another key change is running, or one was interrupted (then check that %s "
                         "is intact and delete %s)" % (tmp, path, tmp))
    try:
        ring = read_file(path)
        result = edit(ring)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        _write(fd, _format(ring))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(path)
    return result
