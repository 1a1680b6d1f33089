"""Vault key ring: key file creation and parsing, the environment ring, adding and retiring versions."""

import logging
import os
import stat

import pytest

from server.vault import keyring
from server.vault.crypto import VaultError

HEX1, HEX2 = "11" * 32, "22" * 32


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_missing_key_file_is_created_private_with_version_1(tmp_path):
    path = str(tmp_path / "sub" / "vault.keys")
    ring = keyring.load(path, environ={})
    assert list(ring) == [1] and len(ring[1]) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keyring.load(path, environ={}) == ring  # read back, not created again
    assert os.listdir(tmp_path / "sub") == ["vault.keys"]


def test_not_created_when_told_not_to(tmp_path):
    with pytest.raises(VaultError, match="vault.keys is missing: restore it from backup"):
        keyring.load(str(tmp_path / "vault.keys"), environ={}, create=False)


def test_file_with_comments_and_several_versions(tmp_path):
    path = write(tmp_path / "k", "# keys\n\n1 %s\n  2 %s  \n" % (HEX1, HEX2))
    ring = keyring.read_file(path)
    assert ring == {1: b"\x11" * 32, 2: b"\x22" * 32} and keyring.current(ring) == 2


@pytest.mark.parametrize("text, words", [
    ("1 %s\n2\n" % HEX1, "line 2: expected '<version> <64 hex digits>'"),
    ("1 %s extra\n" % HEX1, "line 1: expected"),
    ("x %s\n" % HEX1, "line 1: key version must be a whole number 1-65535"),
    ("0 %s\n" % HEX1, "line 1: key version must be a whole number"),
    ("70000 %s\n" % HEX1, "line 1: key version must be a whole number"),
    ("# c\n1 %s\n1 %s\n" % (HEX1, HEX2), "line 3: key version 1 is given twice"),
    ("1 %s\n" % HEX1[:-2], "line 1: key is 62 hex digits, expected 64"),
    ("1 %s\n" % ("zz" * 32), "line 1: key is not hex digits"),
    ("# nothing\n", "holds no keys"),
])
def test_bad_key_files_name_the_line(tmp_path, text, words):
    path = write(tmp_path / "k", text)
    with pytest.raises(VaultError, match=words) as err:
        keyring.read_file(path)
    assert HEX1 not in str(err.value) and HEX2 not in str(err.value)


def test_readable_by_others_warns(tmp_path, caplog):
    path = write(tmp_path / "k", "1 %s\n" % HEX1, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="server.vault.keyring"):
        keyring.read_file(path)
    assert "readable by group or others: chmod 600" in caplog.text


def test_environment_ring_takes_precedence_and_no_file_is_written(tmp_path):
    path = str(tmp_path / "vault.keys")
    ring = keyring.load(path, environ={keyring.ENV: "1:%s, 2:%s" % (HEX1, HEX2)})
    assert ring == {1: b"\x11" * 32, 2: b"\x22" * 32}
    assert not os.path.exists(path)


@pytest.mark.parametrize("text, words", [
    (HEX1, "item 1: expected VERSION:HEX"),
    ("1:%s,2:%s" % (HEX1, HEX1[:10]), "item 2: key is 10 hex digits, expected 64"),
    ("1:%s,1:%s" % (HEX1, HEX2), "item 2: key version 1 is given twice"),
    ("v1:%s" % HEX1, "item 1: key version must be a whole number"),
])
def test_bad_environment_rings_name_the_item(text, words):
    with pytest.raises(VaultError, match=words) as err:
        keyring.from_env(text)
    assert HEX1 not in str(err.value)


def test_add_version_keeps_the_old_keys_and_stays_private(tmp_path):
    path = write(tmp_path / "k", "1 %s\n" % HEX1, mode=0o644)
    assert keyring.add_version(path) == 2
    assert keyring.add_version(path) == 3
    ring = keyring.read_file(path)
    assert sorted(ring) == [1, 2, 3] and ring[1] == b"\x11" * 32 and len({ring[2], ring[3]}) == 2
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["k"]


def test_retire_removes_one_version(tmp_path):
    path = write(tmp_path / "k", "1 %s\n2 %s\n" % (HEX1, HEX2))
    keyring.retire(path, 1)
    assert keyring.read_file(path) == {2: b"\x22" * 32}
    with pytest.raises(VaultError, match="has no key version 1 \\(it has 2\\)"):
        keyring.retire(path, 1)
    with pytest.raises(VaultError, match="key version 2 is the only key"):
        keyring.retire(path, 2)
    assert keyring.read_file(path) == {2: b"\x22" * 32}
    assert sorted(os.listdir(tmp_path)) == ["k"]


def test_a_second_key_change_at_the_same_time_is_refused(tmp_path):
    path = write(tmp_path / "k", "1 %s\n" % HEX1)
    (tmp_path / "k.new").write_text("")
    with pytest.raises(VaultError, match="k.new exists: another key change is running"):
        keyring.add_version(path)
    assert keyring.read_file(path) == {1: b"\x11" * 32}
    assert (tmp_path / "k.new").exists()  # not ours to remove


def test_a_broken_key_file_is_not_rewritten(tmp_path):
    path = write(tmp_path / "k", "1 %s\n1 %s\n" % (HEX1, HEX2))
    with pytest.raises(VaultError, match="line 2"):
        keyring.add_version(path)
    assert open(path).read() == "1 %s\n1 %s\n" % (HEX1, HEX2)
    assert sorted(os.listdir(tmp_path)) == ["k"]
