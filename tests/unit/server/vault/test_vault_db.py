"""Binding the vault: its own database file with secure_delete, the key ring, init_app's defaults."""

import os

import pytest
from flask import Flask

from server.vault import db, keyring, store
from server.vault.crypto import VaultError
from server.vault.models import VaultField

HEX1 = "11" * 32


def test_init_binds_a_separate_file_with_secure_delete_and_a_new_key_file(vault, cid):
    assert db.vault_db.execute_sql("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.vault_db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(db.vault_db.get_tables()) == ["vault_audit", "vault_field"]
    assert list(db.ring()) == [1] and not db.from_env()
    store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    assert os.path.getsize(vault.path) > 0


def test_a_lost_key_file_is_not_replaced_while_fields_need_it(vault, cid):
    store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    db.vault_db.close()
    os.unlink(vault.key_file)
    with pytest.raises(VaultError, match="vault.keys is missing: restore it from backup"):
        db.init(vault.url, vault.key_file, environ={})
    assert not os.path.exists(vault.key_file)


def test_a_key_file_that_disappears_at_run_time_is_not_replaced(vault, cid):
    os.unlink(vault.key_file)
    with pytest.raises(VaultError, match="is missing: restore it"):
        store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    assert not os.path.exists(vault.key_file)


def test_the_environment_ring_is_used_and_no_key_file_written(tmp_path, cid):
    key_file = str(tmp_path / "vault.keys")
    db.init("sqlite:///" + str(tmp_path / "vault.db"), key_file, environ={keyring.ENV: "3:" + HEX1})
    try:
        assert db.ring() == {3: b"\x11" * 32} and db.from_env()
        store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
        assert store.get(cid(1), actor="cli:root", purpose="check") == {"name": "张三"}
        assert not os.path.exists(key_file)
    finally:
        db.vault_db.close()


def test_a_key_added_by_another_process_is_picked_up(vault, cid):
    store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    assert keyring.add_version(vault.key_file) == 2  # as `vault rotate-key` in another process does
    store.put(cid(2), {"name": "李四"}, "cli:root", "sign-up")
    assert sorted(db.ring()) == [1, 2]
    assert {r.customer: r.version for r in VaultField.select()} == {cid(1): 1, cid(2): 2}


def test_init_app_defaults_into_the_instance_folder_and_is_idempotent(tmp_path, cid):
    app = Flask("t", instance_path=str(tmp_path / "instance"))  # neither DATABASE_URL nor SECRET_KEY_FILE set
    db.init_app(app)
    try:
        assert app.config["VAULT_DATABASE_URL"] == "sqlite:///" + str(tmp_path / "instance" / "vault.db")
        assert app.config["VAULT_KEY_FILE"] == str(tmp_path / "instance" / "vault.keys")
        with app.app_context():
            store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
            assert not db.vault_db.is_closed()
        assert db.vault_db.is_closed()  # closed with the app context
        db.init_app(app)
        with app.app_context():
            assert store.fields_of(cid(1)) == ["name"]
        assert {"vault.db", "vault.keys"} <= set(os.listdir(tmp_path / "instance"))
    finally:
        db.vault_db.close()


def test_init_app_puts_the_vault_beside_a_sqlite_main_database_and_its_key_beside_the_master_key(tmp_path):
    app = Flask("t", instance_path=str(tmp_path / "instance"))
    app.config.update(DATABASE_URL="sqlite:///" + str(tmp_path / "data" / "p.db"),
                      SECRET_KEY_FILE=str(tmp_path / "keys" / "master.key"))
    db.init_app(app)
    db.vault_db.close()
    assert os.path.exists(tmp_path / "data" / "vault.db") and os.path.exists(tmp_path / "keys" / "vault.keys")
    assert not os.path.exists(tmp_path / "instance")


def test_init_app_takes_the_configured_paths(tmp_path):
    app = Flask("t", instance_path=str(tmp_path / "instance"))
    app.config.update(VAULT_DATABASE_URL="sqlite:///" + str(tmp_path / "v.db"), VAULT_KEY_FILE=str(tmp_path / "v.k"))
    db.init_app(app)
    db.vault_db.close()
    assert os.path.exists(tmp_path / "v.db") and os.path.exists(tmp_path / "v.k")
    assert not os.path.exists(tmp_path / "instance")


def test_a_bad_key_file_stops_init(vault, tmp_path):
    (tmp_path / "bad.keys").write_text("1 abc\n")
    with pytest.raises(VaultError, match="line 1: key is 3 hex digits, expected 64"):
        db.init("sqlite:///" + str(tmp_path / "other.db"), str(tmp_path / "bad.keys"), environ={})
    db.vault_db.close()
    with pytest.raises(VaultError, match="the vault is not set up"):  # no ring left over from an earlier init
        db.ring()
