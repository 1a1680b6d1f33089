"""Tag test fixtures: the server app on a fresh SQLite file, and sales as ingest stores them."""

import pytest

from server.db import db


@pytest.fixture
def tagdb(app):
    """The app's database (tag tables included)."""
    return db


@pytest.fixture
def rec():
    """rec(customer, seq, ...) -> a Record tuple in server.ingest.apply.RECORD_FIELDS order."""
    def make(customer, seq, ts=1_750_000_000, amount=1000, kind="sale", dev="D1", cur="CNY"):
        return (dev, seq, kind, ts, None, "R%d" % seq, None, amount, cur, None, customer, "h%d" % seq)
    return make
