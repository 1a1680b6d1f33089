"""Retention by monthly cohort over the shop of reports_shop: months local to each store."""

import csv
import io
from fractions import Fraction

import pytest

from reports_shop import build
from server.analytics import cohorts, kpis


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
