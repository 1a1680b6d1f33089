"""Jobs: expiry of lapsed lots (rolling and fixed, run twice) and tier reviews (downgrade only at review)."""

from datetime import datetime

import pytest

from server.ingest.models import Record
from server.loyalty import jobs, ledger, programme, service
from server.loyalty.models import Customer, PointsEntry


def sale(seq, amount, tok=1, kind="sale", orig=None):
    return {"dev": "T1", "seq": seq, "kind": kind, "ref": "R%d" % seq, "orig": orig, "amount": amount, "cur": "CNY",
            "tok": "%064x" % tok}


def earn_at(when, *txs):
    return service.apply_txs(list(txs), now=when)


def expired():
    return [(e.key, e.delta) for e in PointsEntry.select().where(PointsEntry.reason == "expire").order_by(PointsEntry.id)]


def test_rolling_expiry_takes_lapsed_lots_less_what_was_spent_and_is_idempotent(app):
    programme.save({"expiry": {"mode": "rolling", "months": 12}}, "x")
    cust = earn_at(datetime(2025, 1, 10), sale(1, 10000))[0]["customer"]         # 100, lapses 2026-01-10
    earn_at(datetime(2025, 6, 10), sale(2, 5000))                                 # 50, lapses 2026-06-10
    ledger.post(cust, -30, "burn", "auth:T1:1")
    assert jobs.expire(datetime(2026, 1, 9)) == {"customers": 0, "points": 0}
    assert jobs.expire(datetime(2026, 1, 10)) == {"customers": 1, "points": 70}
    assert jobs.expire(datetime(2026, 1, 10, 12)) == {"customers": 0, "points": 0}   # run twice
    assert jobs.expire(datetime(2026, 3, 1)) == {"customers": 0, "points": 0}
    assert jobs.expire(datetime(2026, 6, 10)) == {"customers": 1, "points": 50}
    assert expired() == [("expire:%s:2026-01-10" % cust, -70), ("expire:%s:2026-06-10" % cust, -50)]
    c = Customer.get_by_id(cust)
    assert c.points == ledger.balance(cust) == 0


def test_fixed_date_expiry_takes_a_years_points_after_the_next_year(app):
    cust = earn_at(datetime(2025, 3, 1), sale(1, 10000))[0]["customer"]          # default: through 31.12.2026
    earn_at(datetime(2026, 2, 1), sale(2, 20000))
    assert jobs.expire(datetime(2026, 12, 31, 23, 59))["points"] == 0
    assert jobs.expire(datetime(2027, 1, 1))["points"] == 100
    assert jobs.expire(datetime(2027, 1, 1)) == {"customers": 0, "points": 0}
    assert jobs.expire(datetime(2028, 1, 1))["points"] == 200
    assert ledger.balance(cust) == 0


def test_expiry_never_takes_a_balance_below_zero(app):
    programme.save({"expiry": {"mode": "rolling", "months": 1}}, "x")
    cust = earn_at(datetime(2025, 1, 1), sale(1, 10000))[0]["customer"]
    ledger.post(cust, -150, "refund", "T1:9:reverse")                 # reversed more than the lot held
    assert jobs.expire(datetime(2025, 3, 1))["points"] == 0
    assert ledger.balance(cust) == -50


def test_expiry_reports_progress_per_committed_chunk(app):
    programme.save({"expiry": {"mode": "rolling", "months": 1}}, "x")
    earn_at(datetime(2025, 1, 1), *[sale(n, 1000, tok=n) for n in range(1, 6)])
    seen = []
    assert jobs.expire(datetime(2025, 3, 1), lambda done, total: seen.append((done, total)), chunk=2)["customers"] == 5
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def record(seq, cust, amount, at, kind="sale", cur="CNY"):
    Record.create(dev="T1", seq=seq, kind=kind, ts=0, received_at=at, ref="R%d" % seq, amount=amount, cur=cur,
                  customer=cust, body_hash="x")


def gold_customer(at):
    """A customer raised to gold at ``at`` (review a year on)."""
    cust = earn_at(at, sale(1, 600000))[0]["customer"]
    assert Customer.get_by_id(cust).tier == "gold"
    return cust


def test_no_downgrade_before_the_review_date(app):
    cust = gold_customer(datetime(2025, 1, 1))
    assert jobs.review_tiers(datetime(2025, 12, 31))["reviewed"] == 0
    assert Customer.get_by_id(cust).tier == "gold"


def test_a_review_lowers_one_tier_at_most_and_sets_the_next_review(app):
    cust = gold_customer(datetime(2025, 1, 1))
    record(1, cust, 30000, datetime(2025, 6, 1))
    record(2, cust, 5000, datetime(2025, 7, 1), kind="refund")
    record(3, cust, 900000, datetime(2024, 12, 1))            # before the window
    record(4, cust, 900000, datetime(2025, 6, 1), cur="USD")  # not the programme currency
    at = datetime(2026, 1, 2)
    out = jobs.review_tiers(at)
    assert out["reviewed"] == 1 and dict(out["moves"]) == {("gold", "silver"): 1}
    c = Customer.get_by_id(cust)
    assert (c.tier, c.tier_since, c.tier_review_at) == ("silver", at, datetime(2027, 1, 2))
    assert (c.qual_spend, c.qual_since) == (25000, datetime(2025, 1, 2))
    assert jobs.review_tiers(at)["reviewed"] == 0                      # run twice: nothing due


def test_the_qualify_rule_goes_straight_to_what_the_spend_reaches(app):
    programme.save({"downgrade": "qualify"}, "x")
    cust = gold_customer(datetime(2025, 1, 1))
    record(1, cust, 30000, datetime(2025, 6, 1))
    jobs.review_tiers(datetime(2026, 1, 2))
    assert Customer.get_by_id(cust).tier == "basic"


def test_a_customer_who_still_qualifies_keeps_the_tier(app):
    cust = gold_customer(datetime(2025, 1, 1))
    record(1, cust, 700000, datetime(2025, 6, 1))
    out = jobs.review_tiers(datetime(2026, 1, 2))
    assert out["moves"] == {} and Customer.get_by_id(cust).tier == "gold"


def test_customers_without_a_review_date_are_reviewed_and_merged_ones_are_not(app):
    Customer.create(id="CAAAAAAAAAAAAAAAA", tier="silver")
    Customer.create(id="CBBBBBBBBBBBBBBBB", tier="gold", state="merged", merged_into="CAAAAAAAAAAAAAAAA")
    seen = []
    out = jobs.review_tiers(datetime(2026, 1, 1), lambda done, total: seen.append((done, total)))
    assert out["reviewed"] == 1 and seen == [(0, 1), (1, 1)]
    assert [c.tier for c in Customer.select().order_by(Customer.id)] == ["basic", "gold"]


@pytest.mark.parametrize("downgrade, tier, reached, after", [
    ("one", "vip", "basic", "gold"), ("one", "gold", "silver", "silver"), ("one", "silver", "gold", "gold"),
    ("one", "retired", "silver", "silver"), ("qualify", "vip", "basic", "basic"),
])
def test_after_review(downgrade, tier, reached, after):
    assert jobs.after_review(programme.build({"downgrade": downgrade}), tier, reached) == after
