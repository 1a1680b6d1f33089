"""Tiers across merges: the higher tier wins, qualifying spend adds up inside the window, reviews count the group."""

from datetime import datetime

from server.customers import identity
from server.ingest.models import Record
from server.loyalty import jobs
from server.db import utcnow
from server.loyalty.models import Customer, new_customer_id

NOW = datetime(2025, 9, 1)


def customer(tier="basic", since=None, review=None, qual=0, qual_since=datetime(2025, 1, 1)):
    return Customer.create(id=new_customer_id(), tier=tier, tier_since=since, tier_review_at=review, qual_spend=qual,
                           qual_since=qual_since).id


def record(seq, cust, amount, at, kind="sale"):
    Record.create(dev="T1", seq=seq, kind=kind, ts=0, received_at=at, ref="R%d" % seq, amount=amount, cur="CNY",
                  customer=cust, body_hash="x")


def merge(src, dst):
    out = identity.merge(src, dst, "cli:test", "same person")
    return out, Customer.get_by_id(dst)


def test_the_higher_tier_wins_with_its_dates(app):
    src = customer("gold", datetime(2025, 2, 1), datetime(2026, 2, 1), qual=10000)
    dst = customer("silver", datetime(2025, 3, 1), datetime(2026, 3, 1), qual=120000)
    out, row = merge(src, dst)
    assert out["tier"] == "gold"
    assert (row.tier, row.tier_since, row.tier_review_at, row.qual_spend) == (
        "gold", datetime(2025, 2, 1), datetime(2026, 2, 1), 130000)


def test_the_lower_tier_of_the_source_changes_nothing_but_the_spend(app):
    src = customer("basic", qual=20000)
    dst = customer("gold", datetime(2025, 3, 1), datetime(2026, 3, 1), qual=500000)
    _, row = merge(src, dst)
    assert (row.tier, row.tier_since, row.tier_review_at, row.qual_spend) == (
        "gold", datetime(2025, 3, 1), datetime(2026, 3, 1), 520000)


def test_on_a_tie_held_since_the_earlier_reviewed_at_the_later(app):
    src = customer("silver", datetime(2025, 2, 1), datetime(2026, 4, 1), qual=100000)
    dst = customer("silver", datetime(2025, 3, 1), datetime(2026, 3, 1), qual=100000)
    _, row = merge(src, dst)
    assert (row.tier, row.tier_since, row.tier_review_at) == ("silver", datetime(2025, 2, 1), datetime(2026, 4, 1))


def test_spend_that_adds_up_to_a_threshold_raises_the_tier_at_once(app):
    src = customer(qual=60000, qual_since=datetime(2025, 5, 1))
    dst = customer(qual=50000, qual_since=datetime(2025, 1, 1))
    out, row = merge(src, dst)
    assert out["tier"] == "silver" and row.tier == "silver" and row.qual_spend == 110000
    assert row.tier_since.year == utcnow().year and row.tier_review_at > row.tier_since
    assert row.qual_since == datetime(2025, 1, 1)


def test_only_the_sources_spend_inside_the_window_counts(app):
    src = customer(qual=90000, qual_since=datetime(2024, 6, 1))
    dst = customer(qual=10000, qual_since=datetime(2025, 1, 1))
    record(1, src, 60000, datetime(2024, 12, 1))  # before dst's window
    record(2, src, 35000, datetime(2025, 2, 1))
    record(3, src, 5000, datetime(2025, 3, 1), kind="refund")
    _, row = merge(src, dst)
    assert (row.tier, row.qual_spend, row.qual_since) == ("basic", 40000, datetime(2025, 1, 1))


def test_a_review_after_the_merge_counts_the_merged_records(app):
    dst = customer("silver", datetime(2025, 1, 1), datetime(2025, 12, 1), qual=0)
    src = customer(qual=0)
    older = customer(qual=0)
    identity.merge(older, src, "cli:test", "same person")
    record(1, dst, 40000, datetime(2025, 3, 1))
    record(2, src, 40000, datetime(2025, 4, 1))
    record(3, older, 30000, datetime(2025, 5, 1))
    merge(src, dst)
    out = jobs.review_tiers(datetime(2025, 12, 2))
    assert out["reviewed"] == 1 and out["moves"] == {}
    row = Customer.get_by_id(dst)
    assert (row.tier, row.qual_spend) == ("silver", 110000)
