"""Retention by monthly cohort: customers grouped by the local month of their first purchase, and how
many of each group bought again in each later month.

Months are local to the store: the merchant's zone when the report is for one merchant, else each
sale's own store (a terminal without a merchant: the default zone). Stored times stay UTC. The sales
are grouped by customer and local month in SQL; Python only folds merged customers together.
"""

from datetime import datetime
from fractions import Fraction

from server.analytics import kpis


def month_index(ts, tz):
    """The month of unix time ``ts`` in zone ``tz`` as year * 12 + month - 1."""
    at = datetime.fromtimestamp(ts, tz)
    return at.year * 12 + at.month - 1


def label(index):
    """YYYY-MM of a month index."""
    return "%04d-%02d" % (index // 12, index % 12 + 1)


def month_starts(tz, first, last):
    """``[(unix time, month index)]``: when each local month ``first`` .. ``last`` of zone ``tz`` begins."""
    return [(int(datetime(m // 12, m % 12 + 1, 1, tzinfo=tz).timestamp()), m) for m in range(first, last + 1)]


def month_sql(tz, first, last):
    """SQL for ``month_index(ts, tz)`` of column ``ts`` up to the end of month ``last``; ``first - 1`` for
    any time before month ``first``. Compares ts with the month starts, so summer time is exact (as long as
    no clock steps back over a month's start: none of tzdata's zones does from 1970 to 2037)."""
    return _bisect_sql([(None, first - 1)] + month_starts(tz, first, last))


def _bisect_sql(starts):
    """A balanced CASE tree giving the month of the last ``(start, month)`` at or before ts (the first's start
    is never compared: it stands for all earlier times)."""
    if len(starts) == 1:
        return str(starts[0][1])
    mid = len(starts) // 2
    return "CASE WHEN ts < %d THEN %s ELSE %s END" % (starts[mid][0], _bisect_sql(starts[:mid]),
                                                      _bisect_sql(starts[mid:]))


def sale_month_sql(w, first):
    """``(sql, params)``: the local month of a sale of ``w`` from month ``first`` on (earlier: ``first - 1``),
    in w.tz for one merchant's report, else in the zone of the sale's store."""
    def month(tz):
        return month_sql(tz, first, month_index(w.end_ts - 1, tz))

    if w.merchant:
        return month(w.tz), []
    by_zone = {}
    for dev, tz in kpis.store_zones().items():
        if tz.key != w.tz.key:
            by_zone.setdefault(tz.key, (tz, []))[1].append(dev)
    if not by_zone:
        return month(w.tz), []
    cases = ["WHEN dev IN (%s) THEN %s" % (", ".join("?" * len(devs)), month(tz)) for tz, devs in by_zone.values()]
    params = [dev for tz, devs in by_zone.values() for dev in devs]
    return "CASE %s ELSE %s END" % (" ".join(cases), month(w.tz)), params


def customer_months(w, first):
    """``({customer: first month}, {customer: {months}})`` of every purchase before w.end, grouped in SQL by
    customer and local month (months before ``first`` count as ``first - 1``); merges folded in here."""
    month, month_params = sale_month_sql(w, first)
    sql, params = kpis.sales_sql(w, start=False)
    merged, firsts, months = kpis.merged_customers(), {}, {}
    for c, m in kpis.run_sql("SELECT customer, %s AS m %s GROUP BY customer, m" % (month, sql), month_params + params):
        c = merged.get(c, c)
        firsts[c] = min(firsts.get(c, m), m)
        months.setdefault(c, set()).add(m)
    return firsts, months


def cohort_table(w):
    """The cohorts whose first purchase month starts in ``w``, each with its activity up to w.end.

    Returns ``[{"cohort": "YYYY-MM", "size": n, "active": [a0, a1, ...], "rates": [Fraction, ...]}]``
    oldest first: ``active[k]`` customers of the cohort bought in its k-th month after the first
    (a0 == size); months after the window's last are not listed.
    """
    start = month_index(w.start_ts, w.tz)
    last = month_index(w.end_ts - 1, w.tz)
    first, months = customer_months(w, start)
    table = {}
    for customer, m0 in first.items():
        if m0 < start or m0 > last:
            continue
        row = table.setdefault(m0, [0] * (last - m0 + 1))
        for m in months[customer]:
            if m <= last:
                row[m - m0] += 1
    return [{"cohort": label(m0), "size": row[0], "active": row, "rates": [Fraction(a, row[0]) for a in row]}
            for m0, row in sorted(table.items())]


def cohort_rows(table, places=kpis.PLACES):
    """The cohort table as CSV rows: header, then cohort, size and the retention of month 0, 1, ..."""
    width = max((len(r["active"]) for r in table), default=1)
    header = ["cohort", "size"] + ["m%d" % k for k in range(width)] + ["active_m%d" % k for k in range(width)]
    rows = []
    for r in table:
        pad = [""] * (width - len(r["active"]))
        rows.append([r["cohort"], r["size"]] + [kpis.fixed(x, places) for x in r["rates"]] + pad
                    + list(r["active"]) + pad)
    return header, rows
