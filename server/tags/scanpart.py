"""One part of the recompute's scan: the grouped sales of a range of customers as numpy columns.

Plain sqlite3 and numpy, so that a part can run in a worker process (``python -m
server.tags.scanpart``) while others read the other ranges: the sort behind ``GROUP BY`` is
most of the recompute's cost, and one process sorts on one core (threads in one process were
slower here, not faster). server.tags.aggregate builds the SQL and the ranges.
A worker reads its job, pickled, on stdin and writes pickled messages on the pipe the parent
passed it: ``("progress", groups read)`` now and then, then ``("done", columns)`` or ``("error", text)``.
"""

import os
import pickle
import signal
import sqlite3
import sys
import traceback

import numpy as np

from server.tags import window

INTS = ("first_ts", "last_ts", "days", "orders", "spend", "max_sale")
NAMES = ("customer", "reversal", "dev") + INTS + ("amount_sq", "recent")


def read(cursor, job, progress=None):
    """The columns of the groups ``cursor`` yields (aggregate's SQL), sorted by customer; see aggregate.scan.

    ``job``: merchants ({device: merchant}), offset, today, rfm_window and chunk (rows per fetch,
    ``progress(groups read)`` after each).
    """
    rows = []
    while True:
        part = cursor.fetchmany(job["chunk"])
        if not part:
            break
        rows.extend(part)
        if progress:
            progress(len(rows))
    return columns(rows, job["merchants"], job["offset"], job["today"], job["rfm_window"])


def columns(rows, merchants, offset, today, rfm_window):
    """``{column: array}`` of the grouped ``rows``: a customer's sales and its reversals folded into one row."""
    raw = dict(zip(NAMES, zip(*rows) if rows else [()] * len(NAMES)))
    del rows[:]
    cols = {"customer": np.array(raw["customer"], dtype=object), "recent": np.array(raw["recent"], dtype=object)}
    for name in INTS:
        cols[name] = np.array(raw[name], dtype=np.int64)
    cols["first_day"], cols["last_day"] = (cols["first_ts"] + offset) // 86400, (cols["last_ts"] + offset) // 86400
    cols["amount_sq"] = np.array(raw["amount_sq"], dtype=float)
    cols["merchant"] = np.array([merchants.get(d) for d in raw["dev"]], dtype=object)
    rev = np.array(raw["reversal"], dtype=bool)
    n = rev.size
    cols["refunds"], cols["refunded"] = np.zeros(n, np.int64), np.zeros(n, np.int64)
    if rev.any():
        cust = cols["customer"]
        after_sale = np.zeros(n, dtype=bool)
        after_sale[1:] = (cust[1:] == cust[:-1]) & ~rev[:-1]
        after_sale &= rev
        at = np.flatnonzero(rev)
        into = np.where(after_sale[at], at - 1, at)   # a customer's sales come just before its reversals
        cols["refunds"][into], cols["refunded"][into] = cols["orders"][at], cols["spend"][at]
        alone = at[~after_sale[at]]                  # reversals only: no sale figures
        for name in INTS + ("first_day", "last_day", "amount_sq"):
            cols[name][alone] = 0
        cols["recent"][alone], cols["merchant"][alone] = "", None
        keep = ~after_sale
        cols = {name: v[keep] for name, v in cols.items()}
    cols.update(windows(cols["recent"], today, rfm_window))
    return cols


def windows(recent, today, rfm_window):
    """``{name: int64 array}`` of the window sums of each ``recent`` text, as window.counts counts them."""
    n = recent.size
    sizes = np.array([text.count(",") + 1 if text else 0 for text in recent.tolist()], dtype=np.int64)
    items = ",".join(text for text in recent.tolist() if text).replace(":", ",")
    flat = np.fromstring(items, dtype=np.int64, sep=",") if items else np.zeros(0, np.int64)  # C, not str.split
    if flat.size != 2 * sizes.sum():
        raise ValueError("recent sales text that does not parse")
    flat = flat.reshape(-1, 2)
    who = np.repeat(np.arange(n), sizes)
    day, amount = flat[:, 0], flat[:, 1].astype(float)
    out = {}
    for orders, spend, start, end in window.WINDOWS + (("rfm_orders", "rfm_spend", 0, int(rfm_window)),):
        pick = day > today - end
        if start:
            pick &= day <= today - start
        out[orders] = np.bincount(who[pick], minlength=n).astype(np.int64)
        # float sums are exact below 2**53 minor units
        out[spend] = np.rint(np.bincount(who[pick], weights=amount[pick], minlength=n)).astype(np.int64)
    return out


def _die_with_parent(parent):
    """Linux: have the kernel end this worker when its parent dies (a killed recompute leaves no scan running)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:   # it died before the call
        os._exit(1)


def main():
    """Run the job on stdin in this process (a worker); 0 when its columns were sent, 1 after an error.

    argv: the parent's pid (this worker ends with it) and the pipe to send the messages on.
    """
    _die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: the parent stops the workers
    out = os.fdopen(int(sys.argv[2]), "wb")

    def send(message):
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        job = pickle.load(sys.stdin.buffer)
        if not os.path.isfile(job["path"]):
            raise FileNotFoundError("no database file at %s" % job["path"])
        conn = sqlite3.connect(job["path"], timeout=10)
        try:
            conn.execute("PRAGMA query_only = 1")
            send(("done", read(conn.execute(job["sql"], job["params"]), job, lambda n: send(("progress", n)))))
        finally:
            conn.close()
    except BrokenPipeError:
        os._exit(1)   # the parent is gone: nothing to flush to
    except Exception as e:
        traceback.print_exc()
        send(("error", "%s: %s" % (type(e).__name__, e)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
