"""The vault database: its own peewee proxy and key ring, bound at run time apart from the main database."""

import os

from peewee import DatabaseProxy, Model, SqliteDatabase

from server import db as main_db
from server.vault import keyring
from server.vault.crypto import VaultError

vault_db = DatabaseProxy()
# The bound ring, and the key file it came from (None: from the environment) with that file's stat stamp.
_keys = {"ring": None, "path": None, "stamp": None}


class VaultModel(Model):
    """Vault models live in the vault database, never in the main one."""

    class Meta:
        database = vault_db


def init(url, key_file, environ=os.environ, synchronous="normal"):
    """Bind ``vault_db`` to ``url``, create missing tables and load the key ring; return the database.

    A missing key file is created only while the vault holds no field: fields sealed under a
    lost key need that key restored, not a new key under the same version number.
    """
    from server.vault.models import MODELS, VaultField

    _keys.update(ring=None, path=None, stamp=None)
    database = main_db.connect(url, synchronous)
    if isinstance(database, SqliteDatabase):
        # Zero deleted cells and freed pages on every connection: an erased value leaves no bytes behind.
        database.pragma("secure_delete", 1, permanent=True)
    vault_db.initialize(database)
    vault_db.create_tables(MODELS, safe=True)
    ring = keyring.load(key_file, environ, create=not VaultField.select().exists())
    path = None if environ.get(keyring.ENV) else key_file
    _keys.update(ring=ring, path=path, stamp=_stamp(path))
    database.close()
    return database


def init_app(app):
    """Bind the vault for ``app`` from VAULT_DATABASE_URL and VAULT_KEY_FILE (default: beside the main database and key).

    The resolved settings are written back to ``app.config``; calling it again for the same app does nothing.
    """
    if "possync.vault" in app.extensions:
        return
    if not app.config.get("VAULT_DATABASE_URL"):
        app.config["VAULT_DATABASE_URL"] = "sqlite:///" + _beside(app.config.get("DATABASE_URL") or "", app.instance_path)
    if not app.config.get("VAULT_KEY_FILE"):
        master = app.config.get("SECRET_KEY_FILE")
        folder = os.path.dirname(os.path.abspath(master)) if master else app.instance_path
        app.config["VAULT_KEY_FILE"] = os.path.join(folder, "vault.keys")
    folders = [os.path.dirname(os.path.abspath(app.config["VAULT_KEY_FILE"]))]
    if app.config["VAULT_DATABASE_URL"].startswith("sqlite:///"):
        folders.append(os.path.dirname(os.path.abspath(app.config["VAULT_DATABASE_URL"][len("sqlite:///"):])))
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    init(app.config["VAULT_DATABASE_URL"], app.config["VAULT_KEY_FILE"],
         synchronous=app.config.get("SQLITE_SYNCHRONOUS", "normal"))

    @app.teardown_appcontext
    def _close_vault(exc):
        if not vault_db.is_closed():
            vault_db.close()
    app.extensions["possync.vault"] = True


def _beside(url, instance_path):
    """Where the vault file goes by default: next to a SQLite main database, else in the instance folder."""
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        main = url[len("sqlite:///"):]
        return os.path.join(os.path.dirname(os.path.abspath(main)), "vault.db")
    return os.path.join(instance_path, "vault.db")


def ring():
    """The key ring, read again when its key file changed (a key added or retired by another process)."""
    if _keys["ring"] is None:
        raise VaultError("the vault is not set up: call server.vault.db.init_app(app) or init(url, key_file)")
    path = _keys["path"]
    if path is not None:
        stamp = _stamp(path)
        if stamp != _keys["stamp"]:
            _keys.update(ring=keyring.read_file(path), stamp=stamp)
    return _keys["ring"]


def from_env():
    """True when the bound ring came from $POSSYNC_VAULT_KEYS rather than a key file."""
    return _keys["path"] is None


def _stamp(path):
    if path is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
