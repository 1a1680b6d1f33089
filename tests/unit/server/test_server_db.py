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



def test_an_older_database_gets_the_columns_added_since_and_keeps_its_rows(tmp_path):
    import sqlite3

    from server import create_app
    from server.fleet.models import Device

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the device table of the first release, one terminal in it
        old.execute('CREATE TABLE "device" ("id" VARCHAR(32) NOT NULL PRIMARY KEY, "key_enc" BLOB NOT NULL, '
                    '"created_at" DATETIME NOT NULL, "acked_upto" INTEGER NOT NULL)')
        old.execute("INSERT INTO device VALUES ('T1', x'00', '2026-01-01 00:00:00', 41)")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": "sqlite:///%s" % path,
                      "SECRET_KEY_FILE": str(tmp_path / "k"), "INGEST": False})
    with app.app_context():
        t1 = Device.get_by_id("T1")
        assert (t1.acked_upto, t1.merchant_id, t1.conflict_seq, t1.state, t1.depth) == (41, None, None, "offline", 0)
        dbmod.create_tables()  # and again: nothing left to add
        assert {c.name for c in db.get_columns("device")} == {f.column_name for f in Device._meta.sorted_fields}
