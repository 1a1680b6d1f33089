"""Server test fixtures: a fresh SQLite file per test, bound through create_app."""

from types import SimpleNamespace

import pytest

from protocol import envelope, frame, topics
from server import create_app, keys
from server.fleet import devices


@pytest.fixture
def app(tmp_path):
    """A server app on its own SQLite file and master key in tmp_path."""
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "possync.db"),
        "SECRET_KEY_FILE": str(tmp_path / "master.key"),
        "INGEST": False,
        "TESTING": True,
    })
    with app.app_context():
        yield app


@pytest.fixture
def master(app):
    return keys.master_key(app.config["SECRET_KEY_FILE"], environ={})


@pytest.fixture
def add(master):
    """add(dev) registers a device and returns its HMAC key."""
    def add(dev):
        return devices.add_device(dev, master)[1]
    return add


@pytest.fixture
def mk():
    """Builders for test frames and records: mk.sale, mk.signed, mk.record, mk.tok."""
    return SimpleNamespace(sale=sale, signed=signed, record=record, tok=tok)


def signed(dev, key, suffix, kind, pairs):
    """(topic, payload) of a signed up frame, as a terminal sends it."""
    topic = topics.topic(dev, suffix)
    return topic, frame.sign(topic, envelope.build(kind, dev, pairs), key)


def sale(seq, ref=None, amount=1250, cur="CNY", tok=None, kind="sale", orig=None, ts=1700000000):
    """Ordered body pairs of a sale/refund/void."""
    pairs = [("seq", seq), ("ts", ts), ("ref", ref or "R%d" % seq), ("amount", amount), ("cur", cur)]
    if tok:
        pairs += [("tok", tok), ("bin", "622848"), ("last4", "1234")]
    if orig:
        pairs.append(("orig", orig))
    return pairs


def tok(n):
    """A card token (64 hex) for test card number n."""
    return ("%064x" % (n * 7919 + 1))[-64:]


def record(dev, pairs, kind="sale"):
    """(dev, obj, body) as apply_batch takes it."""
    body = envelope.build(kind, dev, pairs)
    return dev, frame.loads(body), body
