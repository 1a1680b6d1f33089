"""Retention by monthly cohort: customers grouped by the local month of their first purchase, and how
many of each group bought again in each later month.

Months are local to the store: the merchant's zone when the report is for one merchant, else each
sale's own store (a terminal without a merchant: the default zone). Stored times stay UTC.
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


def cohort_table(w):
    """The cohorts whose first purchase month starts in ``w``, each with its activity up to w.end.

    Returns ``[{"cohort": "YYYY-MM", "size": n, "active": [a0, a1, ...], "rates": [Fraction, ...]}]``
    oldest first: ``active[k]`` customers of the cohort bought in its k-th month after the first
    (a0 == size); months after the window's last are not listed.
    """
    zones = kpis.store_zones()
    fixed_zone = w.tz if w.merchant else None
    first, months = {}, {}
    for customer, ts, dev, amount, cur in kpis.purchases(w, start=False):
        m = month_index(ts, fixed_zone or zones.get(dev) or w.tz)
        first.setdefault(customer, m)
        months.setdefault(customer, set()).add(m)
    start = month_index(w.start_ts, w.tz)
    last = month_index(w.end_ts - 1, w.tz)
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
