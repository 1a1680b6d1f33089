"""Vault fixtures: a fresh vault database and key file per test, bound through server.vault.db.init."""

import base64
from types import SimpleNamespace

import pytest

from server.vault import db


@pytest.fixture
def vault(tmp_path):
    """The bound vault's files: ``path`` (vault.db), ``key_file``, ``url``."""
    url = "sqlite:///" + str(tmp_path / "vault.db")
    key_file = str(tmp_path / "vault.keys")
    db.init(url, key_file, environ={})
    yield SimpleNamespace(path=tmp_path / "vault.db", key_file=key_file, url=url)
    db.vault_db.close()


@pytest.fixture
def cid():
    """cid(n): the neutral customer id of test customer n (C + 16 base32 characters)."""
    return lambda n: "C" + base64.b32encode(n.to_bytes(10, "big")).decode()
