"""A tiny scheduler: run the jobs that are due, each by one process at a time (a lease row), every run recorded.

`possync-server run` calls run_due every minute from a thread (start_thread); `possync-server jobs`
lists, checks and runs them by hand. A job is due when its last run started ``every`` minutes
ago or more (JOBS_EVERY_MIN overrides the defaults of server.jobs.tasks; 0 = only by hand). A job
that fails records why, and the others still run. The lease expires LEASE after it was last
renewed (a job renews it as it reports progress), so a killed process blocks a job only that long.
"""

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from flask import current_app, has_app_context

from server.db import utcnow
from server.fleet.models import iso
from server.jobs import JobError
from server.jobs.models import JobLease, JobRun
from server.jobs.tasks import JOBS

LEASE = timedelta(minutes=10)
RENEW = timedelta(minutes=1)
TICK_S = 60
ERROR_MAX = 300
log = logging.getLogger("possync.jobs")


def names():
    """The job names, in the order they run."""
    return [job.name for job in JOBS]


def every(name):
    """Minutes between runs of job ``name`` (config JOBS_EVERY_MIN over the default); 0: only by hand."""
    job = _job(name)
    table = current_app.config.get("JOBS_EVERY_MIN") if has_app_context() else None
    if isinstance(table, str):
        try:
            table = json.loads(table)
        except ValueError:
            table = None
    if table is not None and not (isinstance(table, dict) and all(
            k in names() and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in table.items())):
        raise JobError("JOBS_EVERY_MIN must be a JSON object of job name to whole minutes >= 0, e.g. "
                       "{\"stale\": 5, \"birthday\": 0}; jobs: %s" % ", ".join(names()))
    return (table or {}).get(name, job.every)


def status(now=None):
    """Per job: name, help, every, last run (dict or None), due (bool) and next (when it is due, None: by hand)."""
    now = now or utcnow()
    out = []
    for job in JOBS:
        last = _last(job.name)
        minutes = every(job.name)
        nxt = None if not minutes else (last.started + timedelta(minutes=minutes) if last else now)
        out.append({"name": job.name, "help": job.help, "every": minutes, "last": as_dict(last) if last else None,
                    "due": nxt is not None and nxt <= now, "next": nxt})
    return out


def due(now=None):
    """Names of the jobs due at ``now``."""
    return [s["name"] for s in status(now) if s["due"]]


def run(name, now=None, progress=None):
    """Run job ``name`` now, due or not; its run as a dict. JobError if another process is running it.

    ``progress(done, total)``, if given, is called as the job reports it.
    """
    job = _job(name)
    now = now or utcnow()
    holder = "%s:%d:%s" % (socket.gethostname()[:40], os.getpid(), uuid.uuid4().hex[:8])
    if not _acquire(name, holder):
        lease = JobLease.get_or_none(JobLease.name == name)
        raise JobError("job %s is running in another process (%s, lease until %s): try again later"
                       % (name, lease.holder if lease else "?", iso(lease.until) if lease else "?"))
    started = time.monotonic()
    try:
        row = JobRun.create(name=name, started=now, holder=holder)
        try:
            counts = job.run(now, _renewer(name, holder, progress))
            fields = {"outcome": "ok", "counts": json.dumps(counts, sort_keys=True)}
        except Exception as exc:
            log.exception("job %s failed", name)
            fields = {"outcome": "failed", "error": ("%s: %s" % (type(exc).__name__, exc))[:ERROR_MAX]}
        fields["finished"] = now + timedelta(seconds=time.monotonic() - started)
        JobRun.update(**fields).where(JobRun.id == row.id).execute()
    finally:
        JobLease.update(until=utcnow()).where((JobLease.name == name) & (JobLease.holder == holder)).execute()
    out = as_dict(JobRun.get_by_id(row.id))
    log.info("job %s %s in %.1f s", name, out["outcome"], time.monotonic() - started)
    return out


def run_due(app, now=None):
    """Run every job due at ``now`` (default: the clock), one after another; their runs as dicts.

    A job another process is running is left to it; a failing job is recorded and the next runs.
    """
    out = []
    with app.app_context():
        for name in due(now):
            try:
                out.append(run(name, now))
            except JobError as exc:
                log.info("%s", exc)
    return out


def start_thread(app, stop, tick=TICK_S):
    """A daemon thread that calls run_due every ``tick`` seconds until the event ``stop`` is set."""
    def loop():
        while not stop.wait(tick):
            try:
                run_due(app)
            except Exception:  # the database may be away for a moment: try again next tick
                log.exception("jobs: checking for due jobs failed")
    thread = threading.Thread(target=loop, name="possync-jobs", daemon=True)
    thread.start()
    return thread


def runs(name=None, limit=20):
    """The newest ``limit`` runs (of job ``name``), newest first, as dicts."""
    query = JobRun.select().order_by(JobRun.started.desc(), JobRun.id.desc()).limit(limit)
    if name is not None:
        query = query.where(JobRun.name == _job(name).name)
    return [as_dict(row) for row in query]


def as_dict(row):
    """The public view of a run."""
    return {"name": row.name, "started": iso(row.started), "finished": iso(row.finished), "outcome": row.outcome,
            "counts": json.loads(row.counts) if row.counts else {}, "error": row.error, "holder": row.holder}


def _job(name):
    for job in JOBS:
        if job.name == name:
            return job
    raise JobError("no job %r: the jobs are %s" % (name, ", ".join(names())))


def _last(name):
    return JobRun.select().where(JobRun.name == name).order_by(JobRun.started.desc(), JobRun.id.desc()).first()


def _acquire(name, holder):
    """Take the lease of job ``name`` for ``holder`` if nobody holds it; True if taken.

    One conditional UPDATE decides, so of two processes trying at once exactly one wins.
    """
    clock = utcnow()
    JobLease.insert(name=name, holder=holder, until=clock).on_conflict_ignore().execute()
    return JobLease.update(holder=holder, until=clock + LEASE).where(
        (JobLease.name == name) & ((JobLease.until <= clock) | (JobLease.holder == holder))).execute() == 1


def _renewer(name, holder, show=None):
    """The progress callback given to a job: renews its lease at most every RENEW, and passes it on to ``show``."""
    last = [utcnow()]

    def progress(done, total):
        if show is not None:
            show(done, total)
        clock = utcnow()
        if clock - last[0] >= RENEW:
            last[0] = clock
            JobLease.update(until=clock + LEASE).where((JobLease.name == name) & (JobLease.holder == holder)).execute()
    return progress
