"""Server test fixtures: a fresh SQLite file per test, bound through create_app."""

import argparse
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from protocol import envelope, frame, topics
from server import create_app, keys
from server.commands import config_parent
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
def cli(tmp_path):
    """cli(*args) runs the possync-server console script with a config file on tmp_path/p.db."""
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": "sqlite:///" + str(tmp_path / "p.db"),
                                  "SECRET_KEY_FILE": str(tmp_path / "master.key"),
                                  "MQTT_HOST": "10.0.0.5", "MQTT_PORT": 1883}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSSYNC_")}
    exe = os.path.join(os.path.dirname(sys.executable), "possync-server")

    def run(*args, env_extra=None):
        return subprocess.run([exe] + list(args) + ["--config", str(config)], capture_output=True, text=True,
                              cwd=str(tmp_path), env=dict(env, **(env_extra or {})), timeout=60)
    return run


@pytest.fixture
def command(tmp_path):
    """command(name, build, do) -> run(*args): parses and runs one `possync-server NAME ARGS` in-process (``build``
    its argparse_* builder, ``do`` its do_*) with a config file on the app fixture's files; run returns the exit code."""
    cfg = tmp_path / "server.json"
    cfg.write_text(json.dumps({"DATABASE_URL": "sqlite:///" + str(tmp_path / "possync.db"),
                               "SECRET_KEY_FILE": str(tmp_path / "master.key"),
                               "INSTANCE_PATH": str(tmp_path / "instance")}))

    def make(name, build, do):
        def run(*args):
            p = argparse.ArgumentParser()
            build(p.add_subparsers(dest="command"), config_parent())
            return do(p.parse_args([name] + list(args) + ["--config", str(cfg)]))
        return run
    return make


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


def sale(seq, ref=None, amount=1250, cur="CNY", tok=None, kind="sale", orig=None, ts=1700000000, acq=None):
    """Ordered body pairs of a sale/refund/void; ``acq`` is its acquirer metadata."""
    pairs = [("seq", seq), ("ts", ts), ("ref", ref or "R%d" % seq), ("amount", amount), ("cur", cur)]
    if tok:
        pairs += [("tok", tok), ("bin", "622848"), ("last4", "1234")]
    if orig:
        pairs.append(("orig", orig))
    if acq is not None:
        pairs.append(("acq", acq))
    return pairs


def tok(n):
    """A card token (64 hex) for test card number n."""
    return ("%064x" % (n * 7919 + 1))[-64:]


def record(dev, pairs, kind="sale"):
    """(dev, obj, body) as apply_batch takes it."""
    body = envelope.build(kind, dev, pairs)
    return dev, frame.loads(body), body
