"""The scheduler: due jobs run and are recorded, a failure stops no other job, a lease keeps a job to one process."""

import multiprocessing
from datetime import datetime, timedelta

import pytest

from server.db import utcnow
from server.jobs import JobError, scheduler
from server.jobs.models import JobLease, JobRun
from server.wallet import auth, service

T0 = datetime(2025, 6, 1, 2, 0)


def tok(n):
    return "%064x" % (n * 7919 + 1)


def test_every_job_is_due_at_first_then_after_its_interval(app):
    every = ["expiry", "tiers", "stale", "birthday", "reminders", "notify", "refit", "tags"]
    assert scheduler.due(T0) == scheduler.names() == every
    runs = scheduler.run_due(app, T0)
    # An empty shop cannot support a model fit: that run fails saying why, and the others still run.
    assert [(r["name"], r["outcome"]) for r in runs] == [(name, "failed" if name == "refit" else "ok")
                                                          for name in every]
    assert "too_few_repeat" in runs[6]["error"]
    assert runs[2]["counts"] == {"wallet": 0, "points": 0, "points_back": 0}
    assert scheduler.due(T0 + timedelta(minutes=4)) == []
    assert scheduler.due(T0 + timedelta(minutes=5)) == ["notify"]
    assert scheduler.due(T0 + timedelta(minutes=15)) == ["stale", "notify"]
    assert scheduler.due(T0 + timedelta(days=1)) == [name for name in every if name != "refit"]  # weekly
    assert scheduler.due(T0 + timedelta(days=7)) == every
    assert JobLease.select().where(JobLease.until > utcnow()).count() == 0  # every lease given back


def test_the_stale_job_releases_an_approval_whose_record_never_came(app):
    account = service.open_account(tok(1), actor="test", now=T0)["id"]
    service.topup(account, 10000, "fund", now=T0, tiers=[])
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0)
    assert scheduler.run("stale", T0 + timedelta(hours=23))["counts"]["wallet"] == 0
    assert scheduler.run("stale", T0 + timedelta(hours=24))["counts"]["wallet"] == 1
    assert service.find(account).balance == 10000


def test_a_failing_job_records_why_and_the_others_still_run(app):
    app.config["WALLET_AUTH_GRACE_MIN"] = "0"
    runs = {r["name"]: r for r in scheduler.run_due(app, T0)}
    assert runs["stale"]["outcome"] == "failed"
    assert "WalletError: WALLET_AUTH_GRACE_MIN must be a whole number of minutes" in runs["stale"]["error"]
    assert runs["expiry"]["outcome"] == runs["tiers"]["outcome"] == "ok"
    assert JobRun.get(JobRun.name == "stale").finished is not None
    assert scheduler.runs("stale")[0]["outcome"] == "failed"


def test_the_tags_job_takes_its_scan_workers_from_the_settings(app, monkeypatch):
    from server.tags import recompute

    asked = []
    real = recompute.run
    monkeypatch.setattr(recompute, "run", lambda **kw: asked.append(kw["workers"]) or real(**kw))
    for value, want in ((None, None), ("1", 1), (3, 3)):
        app.config["TAGS_SCAN_WORKERS"] = value
        with app.app_context():
            assert scheduler.run("tags", T0)["outcome"] == "ok"
        assert asked.pop() == want
    app.config["TAGS_SCAN_WORKERS"] = "many"
    with app.app_context():
        out = scheduler.run("tags", T0)
    assert out["outcome"] == "failed" and "TAGS_SCAN_WORKERS must be a count of processes, 1 or more" in out["error"]


def test_a_job_held_by_another_process_is_left_to_it(app):
    JobLease.create(name="expiry", holder="other-host:42:abc", until=utcnow() + timedelta(minutes=5))
    with pytest.raises(JobError, match="job expiry is running in another process \\(other-host:42:abc"):
        scheduler.run("expiry", T0)
    assert [r["name"] for r in scheduler.run_due(app, T0)] == ["tiers", "stale", "birthday", "reminders", "notify",
                                                                  "refit", "tags"]
    JobLease.update(until=utcnow() - timedelta(seconds=1)).execute()  # its process died: the lease lapses
    assert scheduler.run("expiry", T0)["outcome"] == "ok"


def test_intervals_come_from_the_config(app):
    app.config["JOBS_EVERY_MIN"] = '{"stale": 0, "expiry": 60}'
    scheduler.run_due(app, T0)
    assert [r.name for r in JobRun.select()] == ["expiry", "tiers", "birthday", "reminders",
                                                    "notify", "refit", "tags"]  # stale: only by hand
    assert scheduler.due(T0 + timedelta(minutes=60)) == ["expiry", "notify"]
    app.config["JOBS_EVERY_MIN"] = {"nosuchjob": 5}
    with pytest.raises(JobError, match="JOBS_EVERY_MIN must be a JSON object"):
        scheduler.due(T0)


def test_unknown_job(app):
    with pytest.raises(JobError, match="no job 'nope': the jobs are expiry, tiers, stale, birthday"):
        scheduler.run("nope")


def test_the_thread_runs_due_jobs_until_stopped(app):
    import threading

    stop = threading.Event()
    thread = scheduler.start_thread(app, stop, tick=0.05)
    try:
        for _ in range(200):
            if JobRun.select().where(JobRun.outcome != "running").count() == len(scheduler.names()):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert sorted(r.name for r in JobRun.select()) == sorted(scheduler.names())


def _take(url, holder, barrier, results):
    from server.db import init

    init(url)
    barrier.wait()
    results.put(scheduler._acquire("expiry", holder))


def test_of_processes_taking_a_lease_at_once_exactly_one_wins(app, tmp_path):
    url = "sqlite:///" + str(tmp_path / "possync.db")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_take, args=(url, "p%d" % n, barrier, results)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == [False, False, False, True]
