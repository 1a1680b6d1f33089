"""The recompute's aggregate: every customer's stats from one sequential scan of the sales, as numpy columns.

One ``GROUP BY customer`` over the Record table read in storage order (``NOT INDEXED``: walking
the customer index reads the rows in random order, several times slower), sales and reversals
told apart by a second group key instead of a CASE in every aggregate; the sliding windows are
then counted in numpy from the recent-sales text that pass builds (cheaper than eight CASE sums
per sale). From PARALLEL_FROM records on, worker processes scan ranges of customers side by
side (server.tags.scanpart). Erased and merged-away customers are then dropped and a merge
survivor rebuilt from its group's sales (server.tags.realtime.rebuild). The SQL is SQLite's dialect.
"""

import os
import pickle
import queue
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
from peewee import SqliteDatabase

from server.db import db
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import realtime, scanpart, window
from server.tags import settings as tag_settings

REC = Record._meta.table_name
SUMS = tuple(name for w in window.WINDOWS for name in w[:2]) + ("rfm_orders", "rfm_spend")
MISSING = ("first_ts", "last_ts", "first_day", "last_day")  # None, not 0, for a customer with no sale
PARALLEL_FROM = 300_000  # records; below that a worker's start costs more than it saves


def _sql(high_id, today, offset, rfm_window, lo=None, hi=None):
    """``(sql, params)`` of the scan of customers ``lo <= customer < hi`` (None: no bound)."""
    day = '(("ts" + %d) / 86400)' % offset
    latest = "MAX(printf('%012d', \"ts\") || \"dev\")"
    cutoff = (today - window.keep_days(rfm_window) + 1) * 86400 - offset
    select = [
        '"customer"', _one_of(realtime.REVERSALS),
        # the device of the latest sale (an aggregate cannot sit in a subquery: its merchant is looked up after),
        # and that sale's time: the same aggregate, computed once
        "substr(%s, 13)" % latest, 'MIN("ts")', "CAST(substr(%s, 1, 12) AS INTEGER)" % latest,
        "COUNT(DISTINCT %s)" % day, "COUNT(*)", 'SUM("amount")', 'MAX("amount")', 'SUM("amount" * 1.0 * "amount")',
        "COALESCE(group_concat(CASE WHEN \"ts\" >= %d THEN %s || ':' || \"amount\" END), '')" % (cutoff, day)]
    bounds = [(op, v) for op, v in ((">=", lo), ("<", hi)) if v is not None]
    where = "".join(' AND "customer" %s ?' % op for op, v in bounds)
    return ('SELECT %s FROM "%s" NOT INDEXED WHERE "id" <= %d AND "customer" IS NOT NULL AND %s%s '
            'GROUP BY 1, 2 ORDER BY 1, 2' % (", ".join(select), REC, int(high_id),
                                             _one_of(realtime.SALES + realtime.REVERSALS), where),
            [v for op, v in bounds])


def _one_of(kinds):
    """``"kind" IN kinds`` as a CASE: SQLite codes a constant IN list as a lookup table, slower per row."""
    return '(CASE "kind" %s ELSE 0 END)' % " ".join("WHEN '%s' THEN 1" % k for k in kinds)


def scan(high_id, today, offset, rfm_window, chunk=20000, progress=None, parts=((None, None),)):
    """``{column: array}`` per customer with a sale or reversal up to record ``high_id``, sorted by customer.

    Columns: customer, merchant (object), the CustomerStats aggregates (int64; MISSING ones are
    0 where orders == 0, meaning missing), amount_sq (float), recent (object), the windows of
    SUMS, refunds, refunded. ``progress(groups read)`` after each ``chunk`` groups. ``parts``
    (see ranges): more than one range, each is scanned by a worker process side by side.
    """
    job = {"merchants": tag_settings.merchants_of_devices(), "offset": offset, "today": today,
           "rfm_window": rfm_window, "chunk": chunk}
    if len(parts) == 1:
        sql, params = _sql(high_id, today, offset, rfm_window, *parts[0])
        return scanpart.read(db.execute_sql(sql, params), job, progress)
    jobs = [dict(job, path=_path(), sql=sql, params=params)
            for sql, params in (_sql(high_id, today, offset, rfm_window, lo, hi) for lo, hi in parts)]
    cols = _in_workers(jobs, progress)
    out = {}
    for name in list(cols[0]):   # column by column, each part's copy let go at once
        out[name] = np.concatenate([part.pop(name) for part in cols])
    return out


def workers(high_id):
    """How many scan processes suit ``high_id`` records: one per core (at most 4) from PARALLEL_FROM records."""
    if high_id < PARALLEL_FROM:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def ranges(n):
    """Up to ``n`` customer-id ranges ``(lo, hi)`` (None: open) holding about as many customers each.

    One open range when ``n`` is 1 or the database is not a SQLite file (workers open the file).
    """
    total = Customer.select().count() if n > 1 and _path() else 0
    cuts = []
    for i in range(1, n if total >= n else 1):
        row = db.execute_sql('SELECT "id" FROM "%s" ORDER BY "id" LIMIT 1 OFFSET %d'
                             % (Customer._meta.table_name, total * i // n)).fetchone()
        if row and (not cuts or row[0] > cuts[-1]):
            cuts.append(row[0])
    bounds = [None] + cuts + [None]
    return list(zip(bounds[:-1], bounds[1:]))


def _path():
    """The SQLite file ``db`` is bound to, or None (another database, or one in memory)."""
    database = db.obj
    if not isinstance(database, SqliteDatabase) or database.database in ("", ":memory:"):
        return None
    return os.path.abspath(database.database)


def _in_workers(jobs, progress):
    """Run each job in its own ``python -m server.tags.scanpart PARENT_PID FD`` process; their columns, in order.

    A worker reads its job on stdin and sends its messages on pipe FD (its stdout stays free for
    whatever an import may print); one listener thread per worker puts them on one queue.
    """
    procs, listeners, messages = [], [], queue.Queue()
    read, parts = [0] * len(jobs), [None] * len(jobs)

    def listen(i, stream):
        with stream:
            try:
                while True:
                    messages.put((i, pickle.load(stream)))
            except Exception:   # the end of the pipe, or bytes that are not a message: the worker is done for
                messages.put((i, ("gone", None)))

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds server/
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    try:
        for i, job in enumerate(jobs):
            r, w = os.pipe()
            try:
                proc = subprocess.Popen([sys.executable, "-m", "server.tags.scanpart", str(os.getpid()), str(w)],
                                        stdin=subprocess.PIPE, pass_fds=(w,), env=env)
            except BaseException:
                os.close(r)
                raise
            finally:
                os.close(w)
            procs.append(proc)
            listeners.append(threading.Thread(target=listen, args=(i, os.fdopen(r, "rb")), daemon=True))
            listeners[-1].start()
            try:
                with proc.stdin:
                    pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            except OSError:
                pass   # it died at once: its listener reports it
        while any(part is None for part in parts):
            i, (kind, body) = messages.get()
            if kind == "progress":
                read[i] = body
                if progress:
                    progress(sum(read))
            elif kind == "done":
                parts[i] = body
            elif kind == "error":
                raise ScanError("scan worker %d of %d failed: %s; the recompute can go on with --resume once that "
                                "is put right" % (i + 1, len(jobs), body))
            elif parts[i] is None:
                if procs[i].poll() is None:
                    procs[i].kill()
                raise ScanError("scan worker %d of %d ended without its result (exit code %s); run the recompute "
                                "again with --resume" % (i + 1, len(jobs), procs[i].wait()))
        return parts
    finally:
        for proc in procs:   # after an error the others are stopped; after success they are ending
            if proc.poll() is None and any(part is None for part in parts):
                proc.kill()
            proc.wait()
        for listener in listeners:   # each reads to the end of its pipe, then closes it
            listener.join()


class ScanError(RuntimeError):
    """A scan worker failed or died: the message says which and why."""


def identities():
    """``(roots, inactive)``: {merged-away customer: the customer its group ended in}, and the customers not active.

    One scan of the customers for those not active (few).
    """
    other = db.execute_sql('SELECT "id", "state", "merged_into" FROM "%s" WHERE "state" != \'active\''
                           % Customer._meta.table_name).fetchall()
    into = {c: m for c, state, m in other if state == "merged" and m}
    roots = {}
    for c in into:
        root = c
        for _ in range(1000):
            if root not in into:
                break
            root = into[root]
        roots[c] = root
    return roots, {c for c, *_ in other}


def regroup(cols, today, settings, offset, now_ts, high_id):
    """``cols`` without erased and merged-away customers, a merge survivor's row rebuilt from its group's sales.

    A bounded rebuild per survivor.
    """
    roots, inactive = identities()
    if not inactive:
        return cols
    groups = {}
    for c, root in roots.items():
        groups.setdefault(root, [root]).append(c)
    ctx = SimpleNamespace(settings=settings, offset=offset)
    merchants = tag_settings.merchants_of_devices()
    rebuilt = []
    for root, members in sorted(groups.items()):
        if root in inactive:
            continue
        row = realtime.rebuild(root, members, ctx, merchants, now_ts, high_id)
        if row["orders"] or row["refunds"]:
            row.update(window.counts(window.parse(row["recent"]), today, settings["rfm_window_days"]))
            rebuilt.append(row)
    drop = inactive | {row["customer"] for row in rebuilt}
    keep = np.array([c not in drop for c in cols["customer"].tolist()], dtype=bool)
    out = {}
    for name, v in cols.items():
        extra = [0 if row[name] is None and v.dtype != object else row[name] for row in rebuilt]
        out[name] = np.concatenate([v[keep], np.array(extra, dtype=v.dtype)]) if extra else v[keep]
    if rebuilt:
        order = np.argsort(out["customer"], kind="stable")
        out = {name: v[order] for name, v in out.items()}
    return out
