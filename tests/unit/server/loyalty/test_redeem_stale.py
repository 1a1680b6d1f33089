"""Stale redemption approvals: points given back once after the grace period; a late sale burns them again once."""

from datetime import datetime, timedelta

import pytest

from server.customers import identity
from server.loyalty import service
from server.loyalty.ledger import balance
from server.loyalty.models import Customer, PointsEntry, RedeemAuth
from server.loyalty.redeem import authorise_redeem, release_stale

T0 = datetime(2025, 6, 1, 2, 0)
GRACE = 1440
TOK = "%064x" % 1


def sale(seq, tok=TOK, **extra):
    return dict({"dev": "T1", "seq": seq, "kind": "sale", "ref": "R%d" % seq, "amount": 50000, "cur": "CNY",
                 "tok": tok}, **extra)


@pytest.fixture
def member(app):
    """A customer holding 500 points behind card TOK."""
    return service.apply_tx(sale(1), now=T0 - timedelta(days=1))["customer"]


def points(customer):
    assert Customer.get_by_id(customer).points == balance(customer)
    return balance(customer)


def test_a_redemption_without_its_sale_is_released_once(member):
    assert authorise_redeem("T1", 7, TOK, 300, now=T0)["ok"]
    assert RedeemAuth.get().held and points(member) == 200
    assert release_stale(GRACE, now=T0 + timedelta(minutes=GRACE - 1))["released"] == 0
    assert release_stale(GRACE, now=T0 + timedelta(minutes=GRACE)) == {"released": 1, "points": 300}
    back = PointsEntry.get(PointsEntry.key == "auth:T1:7:release")
    assert (back.delta, back.reason, back.actor) == (300, "release", "job:stale")
    assert points(member) == 500
    assert release_stale(GRACE, now=T0 + timedelta(days=5))["released"] == 0
    assert points(member) == 500


def test_a_sale_naming_its_redemption_settles_it(member):
    authorise_redeem("T1", 7, TOK, 300, now=T0)
    service.apply_tx(sale(2, amount=10000, redeem=300, auth=7), now=T0 + timedelta(minutes=1))
    assert not RedeemAuth.get().held
    assert release_stale(GRACE, now=T0 + timedelta(days=5))["released"] == 0
    assert PointsEntry.select().where(PointsEntry.reason == "burn").count() == 1


def test_a_sale_after_the_release_burns_again_once(member):
    authorise_redeem("T1", 7, TOK, 300, now=T0)
    release_stale(GRACE, now=T0 + timedelta(days=1))
    late = T0 + timedelta(days=1, hours=1)
    service.apply_tx(sale(2, amount=10000, redeem=300, auth=7), now=late)
    entry = PointsEntry.get(PointsEntry.key == "auth:T1:7:late")
    assert (entry.delta, entry.reason, entry.note) == (-300, "burn", "late_after_release")
    earned = PointsEntry.get(PointsEntry.key == "T1:2:earn").delta
    assert points(member) == 200 + earned
    service.apply_tx(sale(2, amount=10000, redeem=300, auth=7), now=late)  # given again: nothing more
    assert points(member) == 200 + earned


def test_declined_redemptions_are_never_held(member):
    assert authorise_redeem("T1", 8, TOK, 900, now=T0)["code"] == "INSUFFICIENT"
    assert not RedeemAuth.get().held


def test_the_points_come_back_to_the_customer_it_was_merged_into(member):
    authorise_redeem("T1", 7, TOK, 300, now=T0)
    other = service.apply_tx(sale(9, tok="%064x" % 2), now=T0)["customer"]
    identity.merge(member, other, "cli:test", "same person")
    before = points(other)
    release_stale(GRACE, now=T0 + timedelta(days=1))
    assert points(other) == before + 300 and points(member) == 0
