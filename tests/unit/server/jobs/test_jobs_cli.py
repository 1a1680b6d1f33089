"""`possync-server jobs ...` run in-process on the database of the app fixture."""

import json

import pytest

from server.commands import CommandError
from server.jobs.cli import argparse_jobs, do_jobs
from server.jobs.models import JobLease


@pytest.fixture
def run(app, command):
    """run(*args) parses and runs one jobs command on the app fixture's files; returns its exit code."""
    return command("jobs", argparse_jobs, do_jobs)


def test_list_due_run_and_runs(run, capsys):
    assert run("due") == 0
    assert capsys.readouterr().out.split() == ["expiry", "tiers", "stale", "birthday", "reminders", "notify",
                                                  "refit", "tags"]
    assert run("run", "stale") == 0
    assert "stale     ok      points 0, points_back 0, wallet 0" in capsys.readouterr().out
    assert run("list", "--json") == 0
    jobs = {j["name"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["stale"]["last"]["outcome"] == "ok" and not jobs["stale"]["due"] and jobs["expiry"]["due"]
    assert run("due", "--run") == 3  # the model refit cannot run on an empty shop: it fails saying why
    out = capsys.readouterr().out
    assert "expiry" in out and "tiers" in out and "stale" not in out and "refit     failed  RefitError" in out
    assert run("list") == 0
    assert "every 15 min" in capsys.readouterr().out
    assert run("runs", "--job", "stale", "--json") == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["stale"]


def test_a_failed_run_exits_3_with_its_reason(run, capsys, tmp_path):
    cfg = tmp_path / "server.json"
    cfg.write_text(json.dumps(dict(json.loads(cfg.read_text()), WALLET_AUTH_GRACE_MIN=-5)))
    assert run("run", "stale") == 3
    assert "failed  WalletError: WALLET_AUTH_GRACE_MIN" in capsys.readouterr().out


def test_errors_name_the_command(run, app):
    with pytest.raises(CommandError, match="^jobs run: no job 'nope': the jobs are expiry"):
        run("run", "nope")
    from datetime import timedelta

    from server.db import utcnow

    JobLease.create(name="tiers", holder="h:1:x", until=utcnow() + timedelta(minutes=5))
    with pytest.raises(CommandError, match="^jobs run: job tiers is running in another process"):
        run("run", "tiers")
