"""`possync-server notify ...` run in-process on the database of the app fixture."""

import json

import pytest

from server.commands import CommandError
from server.customers import consent, identity
from server.jobs.models import JobLease
from server.notify import queue
from server.notify.cli import argparse_notify, do_notify
from server.notify.models import Notification

PARAMS = {"account": "W1", "balance": 1234, "cur": "CNY"}


@pytest.fixture
def run(app, command):
    """run(*args) parses and runs one notify command on the app fixture's files; returns its exit code."""
    return command("notify", argparse_notify, do_notify)


def test_list_send_and_retry(run, capsys, app):
    cid = identity.create_customer("cli:test")
    consent.grant(cid, "sms", "form", "cli:test")
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1")
    assert run("send") == 0
    assert capsys.readouterr().out.strip() == "failed 0, retry 0, sent 1, skipped 0"
    assert run("list", "--json") == 0
    [message] = json.loads(capsys.readouterr().out)["messages"]
    assert (message["customer"], message["state"], message["params"]) == (cid, "sent", PARAMS)
    Notification.update(state="failed", error="webhook answered HTTP 400 Bad Request").execute()
    assert run("list", "--state", "failed") == 0
    assert "low_balance failed  1  webhook answered HTTP 400 Bad Request" in capsys.readouterr().out
    assert run("retry", str(message["id"])) == 0
    assert capsys.readouterr().out.strip() == "1 message(s) queued again"
    assert Notification.get().state == "queued"


def test_errors_name_the_command(run, app):
    with pytest.raises(CommandError, match="^notify retry: give the message ids or --all"):
        run("retry")
    from datetime import timedelta

    from server.db import utcnow

    JobLease.create(name="notify", holder="h:1:x", until=utcnow() + timedelta(minutes=5))
    with pytest.raises(CommandError, match="^notify send: job notify is running in another process"):
        run("send")
