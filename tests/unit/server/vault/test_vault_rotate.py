"""Key rotation: every field re-encrypted under the new key, in committed chunks, resumable."""

import pytest

from server.vault import keyring, rotate, store
from server.vault.crypto import VaultError, version_of
from server.vault.models import VaultField


def fill(cid, n):
    """n customers with three fields each, all sealed under the current key; return their values."""
    people = {}
    for i in range(n):
        people[cid(i)] = {"name": "客户%d" % i, "phone": "1380013%04d" % i, "note.1": "备注 %d" % i}
        store.put(cid(i), people[cid(i)], "cli:root", "sign-up")
    return people


def readable(people):
    return all(store.get(c, actor="cli:root", purpose="check") == v for c, v in people.items())


def test_rotation_re_encrypts_everything_and_the_old_key_can_then_go(vault, cid):
    people = fill(cid, 7)
    old = {(r.customer, r.field): bytes(r.blob) for r in VaultField.select()}
    assert keyring.add_version(vault.key_file) == 2
    assert rotate.status() == {"current": 2, "versions": [1, 2], "fields": {1: 21}}
    seen = []
    assert rotate.rotate(lambda done, total: seen.append((done, total)), chunk=5) == {"current": 2, "rotated": 21}
    assert seen == [(5, 21), (10, 21), (15, 21), (20, 21), (21, 21)]
    assert rotate.status()["fields"] == {2: 21}
    rows = list(VaultField.select())
    assert all(r.version == 2 == version_of(bytes(r.blob)) and bytes(r.blob) != old[r.customer, r.field]
               for r in rows)
    keyring.retire(vault.key_file, 1)
    assert readable(people)
    assert rotate.rotate() == {"current": 2, "rotated": 0}


def test_each_chunk_leaves_one_rotate_audit_row(vault, cid):
    fill(cid, 3)
    keyring.add_version(vault.key_file)
    rotate.rotate(chunk=4, actor="cli:ops")
    rows = [r for r in store.audit() if r["action"] == "rotate"]
    assert [(r["actor"], r["customer"], r["purpose"]) for r in rows] == [
        ("cli:ops", None, "re-encrypt 1 field(s) under key version 2"),
        ("cli:ops", None, "re-encrypt 4 field(s) under key version 2"),
        ("cli:ops", None, "re-encrypt 4 field(s) under key version 2")]
    assert rows[-1]["fields"] == ["name", "note.1", "phone"]


def test_an_interrupted_rotation_resumes_where_it_stopped(vault, cid):
    people = fill(cid, 10)
    keyring.add_version(vault.key_file)

    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        rotate.rotate(stop, chunk=8)
    assert rotate.status()["fields"] == {1: 22, 2: 8}
    assert readable(people)  # both keys still in the ring: everything opens mid-rotation
    seen = []
    assert rotate.rotate(lambda done, total: seen.append((done, total)), chunk=8) == {"current": 2, "rotated": 22}
    assert seen == [(8, 22), (16, 22), (22, 22)]
    assert rotate.status()["fields"] == {2: 30}
    keyring.retire(vault.key_file, 1)
    assert readable(people)


def test_rotation_stops_on_a_field_whose_key_is_missing(vault, cid):
    fill(cid, 1)
    keyring.add_version(vault.key_file)
    keyring.retire(vault.key_file, 1)  # what `vault retire-key` refuses to do
    with pytest.raises(VaultError, match="key version 1 is not loaded \\(have 2\\): restore that key"):
        rotate.rotate()
    assert rotate.status() == {"current": 2, "versions": [2], "fields": {1: 3}}


def test_chunk_must_be_positive(vault):
    with pytest.raises(VaultError, match="chunk must be at least 1"):
        rotate.rotate(chunk=0)
