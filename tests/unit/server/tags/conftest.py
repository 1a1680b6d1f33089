"""Tag test fixtures: the server app on a fresh SQLite file, sales as ingest stores them, the tags CLI."""

import argparse
import json

import pytest

from server.commands import config_parent
from server.db import db
from server.tags import cli as tags_cli


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


@pytest.fixture
def run(tmp_path, app, capsys):
    """run(*args) -> (exit code, stdout); the same SQLite file as the ``app`` fixture."""
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"DATABASE_URL": app.config["DATABASE_URL"],
                                  "SECRET_KEY_FILE": app.config["SECRET_KEY_FILE"],
                                  "VAULT_DATABASE_URL": app.config["VAULT_DATABASE_URL"],
                                  "VAULT_KEY_FILE": app.config["VAULT_KEY_FILE"],
                                  "INSTANCE_PATH": str(tmp_path / "instance")}))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    tags_cli.argparse_tags(sub, config_parent())

    def go(*args):
        code = tags_cli.do_tags(p.parse_args(["tags"] + list(args) + ["--config", str(config)]))
        return code, capsys.readouterr().out
    return go
