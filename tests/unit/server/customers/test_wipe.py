"""secure_delete for a block, then a truncating WAL checkpoint of the main database."""

import os

from custkit import ACTOR

from server.customers import identity, wipe
from server.db import db


def test_secure_delete_is_on_inside_the_block_and_restored_after(app):
    db.execute_sql("PRAGMA secure_delete = 0")
    with wipe.secure_delete():
        assert db.execute_sql("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA secure_delete").fetchone()[0] == 0


def test_checkpoint_empties_the_wal(app, tmp_path):
    identity.create_customer(ACTOR)
    wal = str(tmp_path / "possync.db") + "-wal"
    assert os.path.getsize(wal) > 0
    assert wipe.checkpoint() is True
    assert os.path.getsize(wal) == 0
