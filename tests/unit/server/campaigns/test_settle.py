"""Coupons after the sale: refusals flagged once per sale, a coupon given back only by its own sale's reversal."""

from datetime import datetime, timedelta

import pytest

from server.campaigns import coupons, settle
from server.campaigns.codes import new_code
from server.campaigns.models import Coupon, CouponFlag
from server.loyalty.models import Customer

NOW = datetime(2026, 3, 1, 12, 0)
LATER = NOW + timedelta(days=30)
ALICE = "CALICE0000000000A"


@pytest.fixture
def alice(app):
    Customer.create(id=ALICE)
    return ALICE


def give(customer, expires_at=LATER):
    return coupons.issue(customer, "amount_off", 1000, "CNY", expires_at, "spring", "t:" + new_code(), "cli:t",
                         now=NOW)


def state(code):
    c = Coupon.get(Coupon.code == code)
    return c.used_dev, c.used_seq, c.given_back_from


def test_a_refusal_is_flagged_once_per_sale_and_listed_newest_first(alice):
    assert settle.flag_refused("T1", 5, "R5", "abcd-efgh", "USED", "used at x", 5000, "CNY", alice, NOW, NOW)
    assert not settle.flag_refused("T1", 5, "R5", "abcd-efgh", "EXPIRED", "again", 5000, "CNY", alice, NOW, NOW)
    assert settle.flag_refused("T2", 5, "R5", "X" * 60, "UNKNOWN", "no such code", 100, "CNY", None, NOW,
                               NOW + timedelta(minutes=1))
    listed = settle.flags()
    assert [(f["dev"], f["outcome"], f["customer"]) for f in listed] == [("T2", "UNKNOWN", None),
                                                                          ("T1", "USED", alice)]
    assert listed[0]["code"] == "X" * 40 and listed[1]["sold_at"] == "2026-03-01T12:00:00Z"
    assert [f["dev"] for f in settle.flags(since=NOW + timedelta(seconds=30))] == ["T2"]
    assert CouponFlag.select().count() == 2


def test_only_the_sale_that_used_a_coupon_gives_it_back_and_only_while_valid(alice):
    kept, expired, back = give(alice), give(alice, expires_at=NOW + timedelta(days=1)), give(alice)
    for seq, code in ((1, kept), (2, expired), (3, back)):
        assert coupons.use(code, "T1", seq, "R%d" % seq, 5000, "CNY", NOW, alice)["ok"]
    assert settle.used_by([("T1", 1), ("T1", 3), ("T1", 9), ("T2", 1)]) == {("T1", 1): kept, ("T1", 3): back}
    later = NOW + timedelta(days=2)
    assert settle.give_back([("T1", 2), ("T1", 3), ("T2", 1)], later) == [back]
    assert state(back) == (None, None, "T1:3") and Coupon.get(Coupon.code == back).given_back_at == later
    assert state(expired) == ("T1", 2, None)  # past its validity: it stays used
    assert state(kept) == ("T1", 1, None)
    assert coupons.validate(back, alice, 5000, "CNY", later)["ok"]
    # the coupon goes to another sale: the first sale's reversal seen again takes nothing from it
    assert coupons.use(back, "T1", 4, "R4", 5000, "CNY", later, alice)["ok"]
    assert settle.give_back([("T1", 3)], later) == []
    assert state(back) == ("T1", 4, "T1:3")
