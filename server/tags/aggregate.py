"""The recompute's aggregate: every customer's stats from one sequential scan of the sales, as numpy columns.

One ``GROUP BY customer`` over the Record table read in storage order (``NOT INDEXED``: walking
the customer index reads the rows in random order, several times slower), sales and reversals
told apart by a second group key instead of a CASE in every aggregate; the sliding windows are
then counted in numpy from the recent-sales text that pass builds (cheaper than eight CASE sums
per sale). Erased and merged-away customers are then dropped and a merge survivor rebuilt
from its group's sales (server.tags.realtime.rebuild). The SQL is SQLite's dialect.
"""

from types import SimpleNamespace

import numpy as np

from server.db import db
from server.ingest.models import Record
from server.loyalty.models import Customer
from server.tags import realtime, window
from server.tags import settings as tag_settings

REC = Record._meta.table_name
SUMS = tuple(name for w in window.WINDOWS for name in w[:2]) + ("rfm_orders", "rfm_spend")
INTS = ("first_ts", "last_ts", "days", "orders", "spend", "max_sale")
NAMES = ("customer", "reversal", "dev") + INTS + ("amount_sq", "recent")
MISSING = ("first_ts", "last_ts", "first_day", "last_day")  # None, not 0, for a customer with no sale


def _sql(high_id, today, offset, rfm_window):
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
    return ('SELECT %s FROM "%s" NOT INDEXED WHERE "id" <= %d AND "customer" IS NOT NULL AND %s '
            'GROUP BY 1, 2 ORDER BY 1, 2' % (", ".join(select), REC, int(high_id),
                                             _one_of(realtime.SALES + realtime.REVERSALS)))


def _one_of(kinds):
    """``"kind" IN kinds`` as a CASE: SQLite codes a constant IN list as a lookup table, slower per row."""
    return '(CASE "kind" %s ELSE 0 END)' % " ".join("WHEN '%s' THEN 1" % k for k in kinds)


def windows(recent, today, rfm_window):
    """``{name: int64 array}`` of the SUMS windows of each ``recent`` text, as window.counts counts them."""
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
        out[spend] = np.rint(np.bincount(who[pick], weights=amount[pick], minlength=n)).astype(np.int64)
    return out


def scan(high_id, today, offset, rfm_window, chunk=20000, progress=None):
    """``{column: array}`` per customer with a sale or reversal up to record ``high_id``, sorted by customer.

    Columns: customer, merchant (object), the CustomerStats aggregates (int64; MISSING ones are
    0 where orders == 0, meaning missing), amount_sq (float), recent (object), the windows of
    SUMS, refunds, refunded. ``progress(groups read)`` after each ``chunk`` groups.
    """
    rows = _fetch(_sql(high_id, today, offset, rfm_window), chunk, progress)
    raw = dict(zip(NAMES, zip(*rows) if rows else [()] * len(NAMES)))
    del rows
    cols = {"customer": np.array(raw["customer"], dtype=object), "recent": np.array(raw["recent"], dtype=object)}
    for name in INTS:
        cols[name] = np.array(raw[name], dtype=np.int64)
    cols["first_day"], cols["last_day"] = (cols["first_ts"] + offset) // 86400, (cols["last_ts"] + offset) // 86400
    cols["amount_sq"] = np.array(raw["amount_sq"], dtype=float)
    merchants = tag_settings.merchants_of_devices()
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


def _fetch(sql, chunk, progress):
    cur = db.execute_sql(sql)
    rows = []
    while True:
        part = cur.fetchmany(chunk)
        if not part:
            return rows
        rows.extend(part)
        if progress:
            progress(len(rows))


def regroup(cols, today, settings, offset, now_ts, high_id):
    """``cols`` without erased and merged-away customers, a merge survivor's row rebuilt from its group's sales.

    One scan of the customers for those not active (few), then a bounded rebuild per survivor.
    """
    other = db.execute_sql('SELECT "id", "state", "merged_into" FROM "%s" WHERE "state" != \'active\''
                           % Customer._meta.table_name).fetchall()
    if not other:
        return cols
    into = {c: m for c, state, m in other if state == "merged" and m}
    groups = {}
    for c in into:
        root = c
        for _ in range(1000):
            if root not in into:
                break
            root = into[root]
        groups.setdefault(root, [root]).append(c)
    inactive = {c for c, *_ in other}
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
