"""Retention by monthly cohort over the shop of reports_shop: months local to each store."""

import csv
import io
import sqlite3
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from reports_shop import build, unix, utc
from server.analytics import cohorts, kpis
from server.ingest.apply import apply_batch


@pytest.fixture
def shop(app, add, mk):
    return build(add, mk)


def q1(merchant=None):
    return kpis.window("2025-01-01", "2025-03-31", merchant)


def test_cohorts_by_first_purchase_month_in_each_stores_zone(shop):
    table = cohorts.cohort_table(q1())
    # January: A, B, C (A again in February and March). February: D; E (00:30 on 1 Feb in Shanghai);
    # F (18:00 on 28 Feb in Berlin, already March in Shanghai). B's voided February sale does not count.
    assert table == [
        {"cohort": "2025-01", "size": 3, "active": [3, 1, 1], "rates": [Fraction(1), Fraction(1, 3), Fraction(1, 3)]},
        {"cohort": "2025-02", "size": 3, "active": [3, 0], "rates": [Fraction(1), Fraction(0)]},
    ]


def test_one_merchants_cohorts_in_its_zone(shop):
    assert [(r["cohort"], r["active"]) for r in cohorts.cohort_table(q1("M1"))] == [("2025-01", [3, 1, 1]),
                                                                                    ("2025-02", [2, 0])]
    assert [(r["cohort"], r["active"]) for r in cohorts.cohort_table(q1("M2"))] == [("2025-02", [1, 0])]


def test_customers_first_seen_before_the_window_are_no_cohort_of_it(shop):
    table = cohorts.cohort_table(kpis.window("2025-02-01", "2025-03-31"))
    assert [(r["cohort"], r["active"]) for r in table] == [("2025-02", [3, 0])]


def test_month_index_is_local():
    from zoneinfo import ZoneInfo

    ts = 1740762000  # 2025-02-28 17:00 UTC
    assert cohorts.label(cohorts.month_index(ts, ZoneInfo("Europe/Berlin"))) == "2025-02"
    assert cohorts.label(cohorts.month_index(ts, ZoneInfo("Asia/Shanghai"))) == "2025-03"


def test_cohort_csv_parses_back_to_the_table(shop):
    header, rows = kpis.table("cohorts", q1())
    back = list(csv.reader(io.StringIO(kpis.csv_text(header, rows))))
    assert back == [["cohort", "size", "m0", "m1", "m2", "active_m0", "active_m1", "active_m2"],
                    ["2025-01", "3", "1.0000", "0.3333", "0.3333", "3", "1", "1"],
                    ["2025-02", "3", "1.0000", "0.0000", "", "3", "0", ""]]


def test_no_sales_no_cohorts(app):
    assert cohorts.cohort_table(q1()) == []
    assert kpis.table("cohorts", q1()) == (["cohort", "size", "m0", "active_m0"], [])


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Havana",
                                  "America/Santiago", "Asia/Kathmandu", "Asia/Shanghai"])
def test_month_sql_agrees_with_month_index_every_hour_and_at_each_month_start(name):
    tz = ZoneInfo(name)  # DST of 1 h, of 30 min (Lord Howe), at midnight (Havana, Santiago), none
    first, last = 2024 * 12, 2025 * 12 + 11
    starts = [ts for ts, m in cohorts.month_starts(tz, first, last)]
    times = list(range(starts[0] - 7200, starts[-1] + 40 * 86400, 3600)) + [t + d for t in starts for d in (-1, 0, 1)]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (ts INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(t,) for t in times])
    got = db.execute("SELECT ts, %s FROM t" % cohorts.month_sql(tz, first, last)).fetchall()
    want = [(t, max(first - 1, min(last, cohorts.month_index(t, tz)))) for t in times]
    assert sorted(got) == sorted(want)


def add_sale(mk, dev, seq, card, when):
    """One more sale of 10.00 through the real ingest."""
    apply_batch([mk.record(dev, mk.sale(seq, amount=1000, tok=mk.tok(card), ts=unix(when)))], now=utc(when))


def test_a_store_months_follow_its_summer_time(shop, mk):
    # F again at 22:30 UTC on 31 Mar: 00:30 on 1 Apr in Berlin's summer time (23:30 on 31 Mar at its winter offset)
    add_sale(mk, "T2", 2, 6, "2025-03-31 22:30")
    spring = kpis.window("2025-01-01", "2025-04-30")
    assert [r["active"] for r in cohorts.cohort_table(spring)] == [[3, 1, 1, 0], [3, 0, 1]]
    berlin = kpis.window("2025-02-01", "2025-04-30", "M2")
    assert [(r["cohort"], r["active"]) for r in cohorts.cohort_table(berlin)] == [("2025-02", [1, 0, 1])]
