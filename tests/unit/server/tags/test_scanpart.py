"""Scan workers are real processes: one killed mid-scan fails the scan clearly, and none outlives its parent."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from realparts import ROOT, wait_for
from server.tags import aggregate

# never returns on its own: the worker sits in SQLite until it is killed
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


def _children(pid, zombies=False):
    """Pids of the child processes of ``pid`` (from /proc); ended ones not yet waited for only with ``zombies``."""
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            out += [int(p) for p in f.read().split()]
    return [p for p in out if _alive(p) or (zombies and _exists(p))]


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0]
    except FileNotFoundError:
        return None


def _alive(pid):
    return _state(pid) not in (None, "Z")


def _exists(pid):
    return _state(pid) is not None


@pytest.fixture
def dbfile(tmp_path):
    path = str(tmp_path / "scan.db")
    sqlite3.connect(path).close()
    return path


def _job(path):
    return {"path": path, "sql": ENDLESS, "params": [], "merchants": {}, "offset": 0, "today": 20000,
            "rfm_window": 365, "chunk": 100}


def test_a_worker_killed_mid_scan_fails_the_scan_naming_it(dbfile):
    got = {}

    def scan():
        try:
            aggregate._in_workers([_job(dbfile), _job(dbfile)], None)
        except aggregate.ScanError as e:
            got["error"] = str(e)
    before = set(_children(os.getpid(), zombies=True))
    t = threading.Thread(target=scan)
    t.start()
    workers = wait_for(lambda: len(set(_children(os.getpid())) - before) == 2 and set(_children(os.getpid())) - before,
                       what="two scan workers")
    os.kill(sorted(workers)[0], signal.SIGKILL)
    t.join(30)
    assert not t.is_alive()
    assert "ended without its result (exit code -9)" in got["error"] and "--resume" in got["error"]
    assert not set(_children(os.getpid(), zombies=True)) - before   # the other stopped too, and both waited for


def test_workers_end_with_a_killed_parent(dbfile):
    code = "from server.tags import aggregate; aggregate._in_workers([%r, %r], None)" % (_job(dbfile), _job(dbfile))
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        workers = wait_for(lambda: len(_children(parent.pid)) == 2 and _children(parent.pid), what="two workers")
    finally:
        parent.kill()
        parent.wait()
    wait_for(lambda: not any(_alive(p) for p in workers), timeout=10, what="the workers to end with their parent")
