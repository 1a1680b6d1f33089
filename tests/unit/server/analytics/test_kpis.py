"""KPIs over the small shop of reports_shop, against values worked out by hand in its docstring."""

from fractions import Fraction

import pytest

from reports_shop import build, utc
from server.analytics import kpis
from server.loyalty import programme
from server.loyalty.models import PointsEntry


@pytest.fixture
def shop(app, add, mk):
    return build(add, mk)


def feb(merchant=None):
    return kpis.window("2025-02-01", "2025-02-28", merchant)


def test_window_is_whole_local_days_in_the_merchants_zone(shop):
    w = feb()
    assert (w.start, w.end) == (utc("2025-01-31 16:00"), utc("2025-02-28 16:00"))
    assert (w.prior().start, w.prior().end) == (utc("2025-01-03 16:00"), utc("2025-01-31 16:00"))
    berlin = feb("M2")
    assert (berlin.start, berlin.end) == (utc("2025-01-31 23:00"), utc("2025-02-28 23:00"))


def test_bad_window_and_unknown_merchant_are_refused(shop):
    with pytest.raises(kpis.ReportError, match="unknown merchant 'M9'"):
        kpis.window("2025-02-01", None, "M9")
    with pytest.raises(kpis.ReportError, match="YYYY-MM-DD"):
        kpis.window("1.2.2025")
    with pytest.raises(kpis.ReportError, match="must be after"):
        kpis.window("2025-03-01", "2025-02-01")


def test_purchases_leave_out_voided_sales_and_count_by_local_day(shop):
    got = [(c, amount) for c, ts, dev, amount, cur in kpis.purchases(feb())]
    # E's 00:30 on 1 Feb is in; B's voided 9000 and the uncarded sale are out
    assert got == [(shop["E"], 2000), (shop["A"], 20000), (shop["A"], 4000), (shop["D"], 6000)]


def test_repeat_purchase_rate(shop):
    # bought in February: A (twice), D, E
    assert kpis.repeat_purchase_rate(feb()) == {"customers": 3, "repeaters": 1, "rate": Fraction(1, 3)}


def test_churn_rate_against_the_window_before(shop):
    # bought in the 28 days before: A, B, C; of them B (voided) and C did not buy in February
    assert kpis.churn_rate(feb()) == {"customers": 3, "churned": 2, "rate": Fraction(2, 3)}


def test_average_basket_is_exact_net_over_sales_with_or_without_card(shop):
    (row,) = kpis.average_basket(feb())
    # 2000 + 20000 + 4000 + 6000 + 1001 = 33001 over 5 sales, less the 2000 refund
    assert row == {"cur": "CNY", "orders": 5, "gross": 33001, "refunds": 2000, "net": 31001,
                   "average": Fraction(31001, 5), "average_minor": 6200}


def test_frequency_distribution(shop):
    dist = dict(kpis.frequency_distribution(feb()))
    assert dist["1"] == 2 and dist["2"] == 1 and dist["10+"] == 0
    assert sum(dist.values()) == 3 and len(dist) == 10


def test_a_merchants_kpis_count_only_its_terminals(shop):
    w = kpis.window("2025-02-01", "2025-03-01", "M2")
    assert kpis.repeat_purchase_rate(w) == {"customers": 1, "repeaters": 0, "rate": Fraction(0)}
    assert kpis.churn_rate(w)["rate"] is None  # nobody bought at M2 before: no rate, not 0


def test_a_merged_customer_counts_as_the_one_it_was_merged_into(shop):
    from server.loyalty.models import Customer

    Customer.update(state="merged", merged_into=shop["A"]).where(Customer.id == shop["D"]).execute()
    assert kpis.repeat_purchase_rate(feb()) == {"customers": 2, "repeaters": 1, "rate": Fraction(1, 2)}


def test_points_liability_is_the_ledger_before_the_end(shop):
    # 1 point per yuan: 100 + 50 + 30 + 20 + 200 + 40 + 60 + 90, the void takes 90 back, the refund 20
    assert kpis.points_liability(feb().end) == {"points": 480, "cur": "CNY", "value_minor": 480}
    assert kpis.points_liability(utc("2025-01-31 16:00"))["points"] == 180  # 100 + 50 + 30; E earned at 16:30
    programme.save({"redeem": {"points": 200, "value": 50}}, "test")  # 200 points buy 0.50
    assert kpis.points_liability(feb().end)["value_minor"] == 120
    assert kpis.points_liability(utc("2100-01-01"))["points"] == sum(e.delta for e in PointsEntry.select())


def test_stored_value_float_per_currency_and_store(shop):
    assert kpis.stored_value_float(feb().end) == {"CNY": 53000}
    assert kpis.stored_value_float(feb().end, "M1") == {"CNY": 50000}
    assert kpis.stored_value_float(utc("2025-01-01")) == {}


def test_segment_sizes_at_each_local_month_end(shop):
    tags, months = kpis.segment_sizes(kpis.window("2025-01-01", "2025-03-31"))
    assert tags == ["growth", "lc_active", "lc_silent", "loyal"]
    assert months == [("2025-01", {"loyal": 1, "lc_active": 2}),
                      ("2025-02", {"loyal": 1, "lc_active": 1, "lc_silent": 1, "growth": 1}),
                      ("2025-03", {"lc_active": 1, "lc_silent": 1, "growth": 1})]


def test_tag_counts_of_the_runs(shop):
    assert kpis.tag_counts(feb()) == [(1, 1738368000, "lc_active", 2), (1, 1738368000, "loyal", 1)]


def test_fixed_rounds_half_even_without_floats():
    assert kpis.fixed(Fraction(2, 3)) == "0.6667"
    assert kpis.fixed(Fraction(1, 20000)) == "0.0000" and kpis.fixed(Fraction(3, 20000)) == "0.0002"
    assert kpis.fixed(Fraction(-1, 8), 2) == "-0.12" and kpis.fixed(Fraction(7)) == "7.0000"
    assert kpis.fixed(None) == ""
