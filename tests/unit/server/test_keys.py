"""Key files and device keys at rest."""

import os
import stat

import pytest

from server import keys
from server.db import db
from server.fleet import devices


def test_key_file_is_created_0600_and_then_reused(tmp_path):
    path = str(tmp_path / "sub" / "master.key")
    first = keys.load_key_file(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.load_key_file(path) == first
    assert not [n for n in os.listdir(tmp_path / "sub") if n.endswith(".tmp")]


def test_truncated_key_file_is_refused(tmp_path):
    path = tmp_path / "master.key"
    path.write_bytes(b"short")
    with pytest.raises(keys.KeyStoreError, match="holds 5 bytes"):
        keys.load_key_file(str(path))


def test_master_key_from_environment(tmp_path):
    path = str(tmp_path / "unused.key")
    assert keys.master_key(path, {"POSSYNC_SECRET_KEY": "ab" * 32}) == b"\xab" * 32
    assert not os.path.exists(path)
    with pytest.raises(keys.KeyStoreError, match="64 hex digits"):
        keys.master_key(path, {"POSSYNC_SECRET_KEY": "xyz"})


def test_seal_binds_the_key_to_its_device():
    master = os.urandom(32)
    blob = keys.seal(master, "T1", b"k" * 32)
    assert keys.unseal(master, "T1", blob) == b"k" * 32
    with pytest.raises(keys.KeyStoreError):
        keys.unseal(master, "T2", blob)
    with pytest.raises(keys.KeyStoreError):
        keys.unseal(os.urandom(32), "T1", blob)


def test_database_file_never_holds_a_device_key_in_clear(app, master, tmp_path):
    added = [devices.add_device("T%d" % n, master)[1] for n in range(5)]
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join((tmp_path / name).read_bytes() for name in os.listdir(tmp_path) if name.startswith("possync.db"))
    assert b"CREATE TABLE" in data
    for key in added:
        assert key not in data and key.hex().encode() not in data
