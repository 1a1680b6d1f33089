"""Store KPIs over a window: repeat purchase rate, churn rate, average basket, frequency distribution,
points liability, stored-value float and segment sizes over time.

A purchase is a record of kind sale that no void names, timed by the terminal's clock (``ts``);
a customer merged into another counts as that one. Rates are exact Fractions (shown as fixed
decimals), money integer minor units of a currency: no float ever reaches a money column.
Purchases are counted per customer and currency in SQL (sales_sql), so a big shop's sales never
pass through Python one by one; Python folds merged customers into the one they count as.
"""

import calendar
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from fractions import Fraction

from peewee import fn

from server.fleet.models import Device, Merchant
from server.ingest.models import Record
from server.licences.alarms import zone
from server.loyalty.models import Customer, PointsEntry

PLACES = 4          # decimals of a rate shown as text
TOP = 10            # the frequency distribution's last bucket is "10+"
DEFAULT_DAYS = 365  # a window without --from starts this long before its end


class ReportError(ValueError):
    """A report that cannot be made as asked (unknown merchant, bad dates); the message says why."""


class Window:
    """``[start, end)`` in naive UTC, optionally one merchant's sales, months and days in zone ``tz``."""

    def __init__(self, start, end, merchant=None, tz=None):
        if end <= start:
            raise ReportError("the end of the window (%s) must be after its start (%s)" % (end, start))
        self.start, self.end, self.merchant, self.tz = start, end, merchant, tz or zone(None)

    @property
    def start_ts(self):
        return calendar.timegm(self.start.timetuple())

    @property
    def end_ts(self):
        return calendar.timegm(self.end.timetuple())

    def prior(self):
        """The window of the same length just before this one."""
        return Window(self.start - (self.end - self.start), self.start, self.merchant, self.tz)


def window(frm=None, to=None, merchant=None, now=None):
    """The Window of local days ``frm`` .. ``to`` (YYYY-MM-DD, both whole days) in the merchant's zone.

    ``to`` defaults to today (up to ``now``), ``frm`` to DEFAULT_DAYS before the end.
    """
    tz = zone(None)
    if merchant:
        found = Merchant.get_or_none(Merchant.code == merchant)
        if found is None:
            raise ReportError("unknown merchant %r (see `possync-server merchant list`)" % merchant)
        tz = zone(found.tz)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    end = _day_start(to, tz, 1) if to else now
    start = _day_start(frm, tz, 0) if frm else end - timedelta(days=DEFAULT_DAYS)
    return Window(start, end, merchant, tz)


def _day_start(text, tz, plus):
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date() + timedelta(days=plus)
    except ValueError:
        raise ReportError("a date must be YYYY-MM-DD, not %r" % str(text)[:40])
    return datetime.combine(day, time(), tz).astimezone(timezone.utc).replace(tzinfo=None)


def fixed(rate, places=PLACES):
    """A Fraction as a decimal text rounded half-even to ``places`` digits; "" for None."""
    if rate is None:
        return ""
    n = round(rate * 10 ** places)
    sign, n = ("-" if n < 0 else ""), abs(n)
    return "%s%d.%0*d" % (sign, n // 10 ** places, places, n % 10 ** places)


def _ratio(num, den):
    return Fraction(num, den) if den else None


def devices_of(merchant):
    """The ids of the terminals selling for ``merchant``."""
    return [d for (d,) in Device.select(Device.id).where(Device.merchant == merchant).tuples()]


def store_zones():
    """``{device: ZoneInfo}``: the zone of the store each terminal sells for."""
    rows = Device.select(Device.id, Merchant.tz).join(Merchant).tuples()
    return {dev: zone(tz) for dev, tz in rows}


def merged_customers():
    """``{customer: the customer it was (finally) merged into}``."""
    links = dict(Customer.select(Customer.id, Customer.merged_into).where(Customer.merged_into.is_null(False)).tuples())
    out = {}
    for c in links:
        end, seen = c, set()
        while end in links and end not in seen:
            seen.add(end)
            end = links[end]
        out[c] = end
    return out


# The ids of the sales a void names, found through the (dev, ref) index. SQLite builds this list once, so
# the scan of the sales tests each id against one set (a ``(dev, ref) NOT IN`` of pairs took a minute on 1M).
VOIDED = "SELECT s.id FROM record v JOIN record s ON s.dev = v.dev AND s.ref = v.orig WHERE v.kind = 'void'"


def sales_sql(w, carded=True, start=True):
    """``(sql, params)``: the ``FROM .. WHERE ..`` of the purchases of ``w`` (see purchases), for grouping in SQL.

    SQLite-specific (``?`` placeholders, ``NOT INDEXED``): NOT INDEXED keeps to one pass over the table; the
    planner (without statistics) would otherwise walk the customer index and fetch the rows one by one,
    three times slower on a big shop. Revisit it if record ever gets an index led by ts.
    """
    where, params = ["kind = 'sale'", "ts < ?", "id NOT IN (%s)" % VOIDED], [w.end_ts]
    if start:
        where.append("ts >= ?")
        params.append(w.start_ts)
    if carded:
        where.append("customer IS NOT NULL")
    if w.merchant:
        where.append("dev IN (SELECT id FROM device WHERE merchant = ?)")
        params.append(w.merchant)
    return "FROM record NOT INDEXED WHERE " + " AND ".join(where), params


def run_sql(sql, params):
    """The cursor of raw SQL on the records' database."""
    return Record._meta.database.execute_sql(sql, params)


def purchases(w, carded=True, start=True):
    """Yield the purchases ``(customer, ts, dev, amount, cur)`` of window ``w``, oldest first.

    ``carded``: only those of a known customer; ``start=False`` also takes those before the window.
    """
    sql, params = sales_sql(w, carded, start)
    merged = merged_customers()
    for c, ts, dev, amount, cur in run_sql("SELECT customer, ts, dev, amount, cur %s ORDER BY ts, id" % sql, params):
        yield merged.get(c, c), ts, dev, amount, cur


def orders_per_customer(w):
    """``{customer: purchases in w}``, counted per customer in SQL; merged customers are folded in here."""
    sql, params = sales_sql(w)
    merged, counts = merged_customers(), Counter()
    for c, n in run_sql("SELECT customer, COUNT(*) %s GROUP BY customer" % sql, params):
        counts[merged.get(c, c)] += n
    return counts


def repeat_purchase_rate(w):
    """Of the customers who bought in ``w``, the share who bought at least twice."""
    return _repeat(orders_per_customer(w))


def _repeat(counts):
    """The repeat purchase rate of ``{customer: purchases}`` (kpi_rows reuses the counts for churn)."""
    repeaters = sum(1 for n in counts.values() if n >= 2)
    return {"customers": len(counts), "repeaters": repeaters, "rate": _ratio(repeaters, len(counts))}


def churn_rate(w):
    """Of the customers who bought in the window before ``w`` (same length), the share who did not buy in ``w``."""
    return _churn(orders_per_customer(w.prior()), orders_per_customer(w))


def _churn(before, now):
    """The churn rate from the customers who bought ``before`` and ``now``."""
    churned = len(set(before) - set(now))
    return {"customers": len(before), "churned": churned, "rate": _ratio(churned, len(before))}


def average_basket(w):
    """Per currency: sales, gross, refunds in ``w`` and the average basket (net / sales), carded or not.

    ``average`` is exact; ``average_minor`` rounded half-even to whole minor units.
    """
    sql, params = sales_sql(w, carded=False)
    out = {cur: {"cur": cur, "orders": orders, "gross": gross, "refunds": 0}
           for cur, orders, gross in run_sql("SELECT cur, COUNT(*), SUM(amount) %s GROUP BY cur" % sql, params)}
    refunds = Record.select(Record.cur, fn.SUM(Record.amount)).where(
        Record.kind == "refund", Record.ts >= w.start_ts, Record.ts < w.end_ts).group_by(Record.cur)
    if w.merchant:
        refunds = refunds.where(Record.dev.in_(devices_of(w.merchant)))
    for cur, amount in refunds.tuples():
        out.setdefault(cur, {"cur": cur, "orders": 0, "gross": 0})["refunds"] = amount
    for row in out.values():
        row["net"] = row["gross"] - row["refunds"]
        row["average"] = _ratio(row["net"], row["orders"])
        row["average_minor"] = round(row["average"]) if row["orders"] else None
    return [out[cur] for cur in sorted(out)]


def frequency_distribution(w, top=TOP):
    """``[(label, customers)]``: how many customers bought 1, 2, ... ``top``-or-more times in ``w``."""
    counts = Counter(min(n, top) for n in orders_per_customer(w).values())
    return [(str(n) if n < top else "%d+" % top, counts.get(n, 0)) for n in range(1, top + 1)]


def month_ends(w):
    """``[(YYYY-MM, end)]``: the local months of ``w`` (zone w.tz) and when each ends (naive UTC, at most w.end)."""
    at = w.start.replace(tzinfo=timezone.utc).astimezone(w.tz)
    year, month = at.year, at.month
    out = []
    while True:
        nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=w.tz).astimezone(timezone.utc).replace(tzinfo=None)
        out.append(("%04d-%02d" % (year, month), min(nxt, w.end)))
        if nxt >= w.end:
            return out
        year, month = year + month // 12, month % 12 + 1


def points_liability(at):
    """Points outstanding at ``at`` (sum of the ledger before it) and their redemption value."""
    from server.loyalty import programme

    points = PointsEntry.select(fn.COALESCE(fn.SUM(PointsEntry.delta), 0)).where(PointsEntry.created_at < at).scalar()
    prog = programme.current()
    per, value = prog["redeem"]
    return {"points": points, "cur": prog["cur"], "value_minor": points * value // per}


def stored_value_float(at, merchant=None):
    """``{cur: minor units}`` held on stored-value cards at ``at`` (sum of the wallet ledger before it).

    With ``merchant``: the net of the entries booked at that store, as the daily wallet report counts it.
    """
    from server.wallet.models import WalletAccount, WalletEntry

    query = (WalletEntry.select(WalletAccount.cur, fn.SUM(WalletEntry.delta)).join(WalletAccount)
             .where(WalletEntry.booked_at < at).group_by(WalletAccount.cur).order_by(WalletAccount.cur))
    if merchant:
        query = query.where(WalletEntry.merchant == merchant)
    return {cur: int(total) for cur, total in query.tuples()}


def segment_sizes(w):
    """``(tags, [(YYYY-MM, {tag: customers})])``: who held each tag at each month's end, replaying TagEvent.

    With a merchant: the customers whose latest sale was at that store (CustomerStats.merchant).
    """
    from server.tags.models import CustomerStats, TagEvent

    query = TagEvent.select(TagEvent.customer, TagEvent.at, TagEvent.gained, TagEvent.lost).where(
        TagEvent.at < w.end_ts)
    if w.merchant:
        query = query.where(TagEvent.customer.in_(
            CustomerStats.select(CustomerStats.customer).where(CustomerStats.merchant == w.merchant)))
    events = iter(query.order_by(TagEvent.at, TagEvent.id).tuples())
    held, tags, out = Counter(), set(), []
    pending = next(events, None)
    for label, end in month_ends(w):
        end_ts = calendar.timegm(end.timetuple())
        while pending is not None and pending[1] < end_ts:
            for code in filter(None, pending[2].split(",")):
                held[code] += 1
            for code in filter(None, pending[3].split(",")):
                held[code] -= 1
            pending = next(events, None)
        tags.update(code for code, n in held.items() if n)
        out.append((label, {code: n for code, n in held.items() if n}))
    return sorted(tags), out


def tag_counts(w):
    """``[(run, at, tag, customers)]``: the segment sizes each recompute run in ``w`` recorded."""
    from server.tags.models import TagCount

    query = TagCount.select(TagCount.run, TagCount.at, TagCount.tag, TagCount.customers).where(
        TagCount.at >= w.start_ts, TagCount.at < w.end_ts)
    return list(query.order_by(TagCount.run, TagCount.tag).tuples())


# -- tables for CSV and charts --------------------------------------------------------------------

def kpi_rows(w):
    """One row per KPI: ``value`` is a fixed decimal for a rate, integer minor units of ``cur`` for money,
    a whole number for points and counts; numerator and denominator show how a rate or average came about."""
    rows, counts = [], orders_per_customer(w)
    for name, r, num, den in (("repeat_purchase_rate", _repeat(counts), "repeaters", "customers"),
                              ("churn_rate", _churn(orders_per_customer(w.prior()), counts), "churned", "customers")):
        rows.append([name, "", fixed(r["rate"]), r[num], r[den]])
    for b in average_basket(w):
        rows.append(["average_basket", b["cur"], "" if b["average_minor"] is None else b["average_minor"],
                     b["net"], b["orders"]])
    liability = points_liability(w.end)
    rows.append(["points_liability", "", liability["points"], "", ""])
    rows.append(["points_liability_value", liability["cur"], liability["value_minor"], "", ""])
    for cur, amount in stored_value_float(w.end, w.merchant).items():
        rows.append(["stored_value_float", cur, amount, "", ""])
    return ["kpi", "cur", "value", "numerator", "denominator"], rows


def basket_rows(w):
    rows = [[b["cur"], b["orders"], b["gross"], b["refunds"], b["net"],
             "" if b["average"] is None else b["average_minor"],
             "" if b["average"] is None else "%d/%d" % (b["average"].numerator, b["average"].denominator)]
            for b in average_basket(w)]
    return ["cur", "orders", "gross_minor", "refunds_minor", "net_minor", "average_minor", "average_exact"], rows


def frequency_rows(w):
    return ["orders", "customers"], [list(r) for r in frequency_distribution(w)]


def points_rows(w):
    rows = []
    for month, end in month_ends(w):
        liability = points_liability(end)
        rows.append([month, liability["points"], liability["cur"], liability["value_minor"]])
    return ["month", "points", "cur", "value_minor"], rows


def float_rows(w):
    rows = [[month, cur, amount] for month, end in month_ends(w)
            for cur, amount in stored_value_float(end, w.merchant).items()]
    return ["month", "cur", "float_minor"], rows


def segment_rows(w):
    tags, months = segment_sizes(w)
    return ["month"] + tags, [[month] + [sizes.get(t, 0) for t in tags] for month, sizes in months]


def tagcount_rows(w):
    rows = [[run, datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), tag, n]
            for run, at, tag, n in tag_counts(w)]
    return ["run", "at", "tag", "customers"], rows


def cohort_rows(w):
    from server.analytics import cohorts

    return cohorts.cohort_rows(cohorts.cohort_table(w))


TABLES = {"kpis": kpi_rows, "basket": basket_rows, "frequency": frequency_rows, "cohorts": cohort_rows,
          "points": points_rows, "float": float_rows, "segments": segment_rows, "tagcounts": tagcount_rows}


def table(name, w):
    """``(header, rows)`` of report ``name`` (one of TABLES) over window ``w``."""
    if name not in TABLES:
        raise ReportError("unknown report %r (one of %s)" % (name, ", ".join(sorted(TABLES))))
    return TABLES[name](w)


def csv_text(header, rows):
    """The table as CSV text (CRLF line ends, as the csv module writes)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
