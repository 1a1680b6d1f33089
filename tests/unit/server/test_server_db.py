"""The database binding: SQLite pragmas and idempotent table creation."""

from server import db as dbmod
from server.db import db


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10000


def test_create_tables_is_safe_to_repeat(app):
    dbmod.create_tables()
    assert {"device", "customer", "card", "pointsentry", "record"} <= set(db.get_tables())

