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


def test_an_older_points_ledger_loses_its_one_entry_per_record_rule_and_keeps_its_rows(tmp_path):
    import sqlite3

    from server import create_app
    from server.loyalty.models import Customer, PointsEntry

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the issue-3 ledger: one entry per (dev, seq), enforced by a unique index
        old.execute('CREATE TABLE "customer" ("id" VARCHAR(17) NOT NULL PRIMARY KEY, "points" INTEGER NOT NULL, '
                    '"created_at" DATETIME NOT NULL)')
        old.execute('CREATE TABLE "pointsentry" ("id" INTEGER NOT NULL PRIMARY KEY, "customer" VARCHAR(17) NOT NULL, '
                    '"dev" VARCHAR(32), "seq" INTEGER, "delta" INTEGER NOT NULL, "reason" VARCHAR(16) NOT NULL, '
                    '"created_at" DATETIME NOT NULL)')
        old.execute('CREATE UNIQUE INDEX "pointsentry_dev_seq" ON "pointsentry" ("dev", "seq")')
        old.execute("INSERT INTO customer VALUES ('CAAAAAAAAAAAAAAAA', 12, '2026-01-01 00:00:00')")
        old.execute("INSERT INTO pointsentry VALUES (1, 'CAAAAAAAAAAAAAAAA', 'T1', 5, 12, 'sale', '2026-01-01 00:00:00')")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": "sqlite:///%s" % path,
                      "SECRET_KEY_FILE": str(tmp_path / "k"), "INGEST": False})
    with app.app_context():
        indexes = {i.name: i.unique for i in db.get_indexes("pointsentry")}
        assert indexes["pointsentry_dev_seq"] is False and indexes["pointsentry_key"] is True
        # an earn and a bonus of the same record now fit; the old row is still there
        PointsEntry.create(customer="CAAAAAAAAAAAAAAAA", dev="T1", seq=5, delta=3, reason="bonus", key="T1:5:bonus:x")
        assert [e.delta for e in PointsEntry.select().order_by(PointsEntry.id)] == [12, 3]
        assert Customer.get_by_id("CAAAAAAAAAAAAAAAA").tier == "basic"
        dbmod.create_tables()
        assert {i.name: i.unique for i in db.get_indexes("pointsentry")} == indexes
