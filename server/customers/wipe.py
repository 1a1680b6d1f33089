"""Leave no old bytes behind in the main SQLite file when card tokens are removed or replaced."""

import contextlib

from peewee import SqliteDatabase

from server.db import db


@contextlib.contextmanager
def secure_delete():
    """SQLite ``secure_delete`` on this connection for the block: deleted and rewritten cells are zeroed."""
    if not isinstance(db.obj, SqliteDatabase):
        yield
        return
    before = db.execute_sql("PRAGMA secure_delete").fetchone()[0]
    db.execute_sql("PRAGMA secure_delete = 1")
    try:
        yield
    finally:
        db.execute_sql("PRAGMA secure_delete = %d" % before)


def checkpoint():
    """Copy the WAL into the database file and truncate it; False if a reader kept it from completing,
    None if the database is not SQLite (PostgreSQL keeps old row versions until VACUUM)."""
    if not isinstance(db.obj, SqliteDatabase):
        return None
    return db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
