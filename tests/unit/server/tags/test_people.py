"""Merges and erasures: the survivor is rebuilt from the whole group's sales, an erased customer's profile goes."""

import time

import pytest

from server.customers import identity, rights
from server.db import bulk_insert, db, utcnow
from server.ingest.apply import RECORD_FIELDS
from server.ingest.models import Record
from server.tags import realtime, recompute
from server.tags.models import CustomerStats, CustomerTag, RiskFlag, TagEvent

DAY = 86400
NOW = int(time.time()) - 3600
ACTOR = "cli:test"
SAME = ("orders", "spend", "days", "first_day", "last_day", "max_sale", "refunds", "refunded", "orders_90d",
        "spend_90d", "orders_365d", "recent", "lifecycle")   # scores against cut points left out: the batch moves them


def at(days_ago):
    return NOW - days_ago * DAY


@pytest.fixture
def pair(tagdb):
    """Customers a (3 sales, 1 refund) and b (2 sales, one on a day a also bought) and 20 bystanders."""
    a, b = identity.create_customer(ACTOR), identity.create_customer(ACTOR)
    others = [identity.create_customer(ACTOR) for _ in range(20)]
    sales = [(a, 200, 1000, "sale"), (a, 50, 3000, "sale"), (a, 10, 2000, "sale"), (a, 10, 500, "refund"),
             (b, 10, 7000, "sale"), (b, 5, 1200, "sale")]
    sales += [(c, 3 + i, 1000 + i, "sale") for i, c in enumerate(others) for _ in range(1 + i % 3)]
    rows = [("D1", n, kind, at(d), utcnow(), "R%d" % n, None, amount, "CNY", None, c, "h%d" % n)
            for n, (c, d, amount, kind) in enumerate(sales, 1)]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    recompute.run()
    return a, b


def stats(c):
    row = CustomerStats.get_or_none(CustomerStats.customer == c)
    return row and tuple(getattr(row, f) for f in SAME)


def tags(c):
    return sorted(t for (t,) in CustomerTag.select(CustomerTag.tag).where(CustomerTag.customer == c).tuples())


def test_merge_rebuilds_the_survivor_from_both_customers_sales(pair):
    a, b = pair
    b_codes = set(tags(b)) | set(realtime.one_of_codes(realtime.read(realtime.STATS, [b])[b]))
    RiskFlag.create(customer=b, dev="D1", seq=5, ts=at(10), amount=7000, cur="CNY", reason="large", detail="x")
    identity.merge(b, a, ACTOR, "same person")
    row = CustomerStats.get(CustomerStats.customer == a)
    assert (row.orders, row.spend, row.days, row.refunds, row.refunded, row.max_sale) == (5, 14200, 4, 1, 500, 7000)
    assert CustomerStats.get_or_none(CustomerStats.customer == b) is None and tags(b) == []
    last = TagEvent.select().where(TagEvent.customer == b).order_by(TagEvent.id.desc()).first()
    assert set(last.lost.split(",")) == b_codes and last.gained == ""          # b's history kept, closed
    assert TagEvent.select().where(TagEvent.customer == b).count() == 2
    assert "high_risk" in tags(a) and RiskFlag.get().customer == a
    merged = stats(a)
    out = recompute.run()                     # the batch (now, as the merge) agrees with the rebuild at merge time
    assert stats(a) == merged and stats(b) is None and out["customers"] == 21


def test_a_merge_during_an_unfinished_run_does_not_come_back_at_the_swap(pair):
    a, b = pair

    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop)
    identity.merge(b, a, ACTOR, "same person")
    merged = stats(a)
    recompute.run(resume=True)
    assert stats(b) is None and tags(b) == [] and stats(a) == merged and merged[0] == 5


def test_erase_removes_the_profile_and_the_batch_does_not_rebuild_it(pair):
    a, b = pair
    identity.merge(b, a, ACTOR, "same person")
    RiskFlag.create(customer=a, dev="D1", seq=1, ts=at(200), amount=1000, cur="CNY", reason="burst", detail="x")
    assert tags(a) and TagEvent.select().where(TagEvent.customer == a).exists()

    def stop(done, total):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        recompute.run(progress=stop)          # a run under way holds a staged copy
    rights.erase(a, "cli:dpo", "erasure request 7")
    for model in (CustomerStats, CustomerTag, TagEvent, RiskFlag):
        assert not model.select().where(model.customer.in_([a, b])).exists(), model
    recompute.run(resume=True)
    recompute.run()
    assert stats(a) is None and stats(b) is None and tags(a) == [] and tags(b) == []
    assert CustomerStats.select().count() == 20
    assert realtime.tags_for([a])[a] == ["lc_potential", "cls_potential"]
