"""Referrals: the rules on who may refer whom, and rewards booked exactly once whatever ingest reports."""

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.campaigns import CampaignError
from server.campaigns.models import Referral
from server.campaigns.referral import refer, reward_first_purchases, rewarded_referees, take_back
from server.db import utcnow
from server.ingest.models import Record
from server.loyalty import ledger
from server.loyalty.models import Customer, PointsEntry

_seq = itertools.count(1)
_run = itertools.count(1)


def people(*names, state="active"):
    ids = ["C%s" % n.upper().ljust(16, "0") for n in names]
    for cid in ids:
        Customer.create(id=cid, state=state)
    return ids


def buy(customer, at=None):
    seq = next(_seq)
    Record.create(dev="T1", seq=seq, kind="sale", ts=1700000000, ref="R%d" % seq, amount=1000, cur="CNY",
                  customer=customer, body_hash="0" * 64, received_at=at or utcnow())
    return seq


def keys_of(referee):
    return sorted(k for (k,) in PointsEntry.select(PointsEntry.key).where(PointsEntry.key.startswith(
        "referral:%s:" % referee)).tuples())


def test_rules(app):
    a, b, c, gone, old = people("a", "b", "c", "gone", "old")
    Customer.update(state="erased").where(Customer.id == gone).execute()
    with pytest.raises(CampaignError, match="cannot refer themselves"):
        refer(a, a, "cli:t")
    assert refer(a, b, "cli:t") is True
    assert refer(a, b, "cli:t") is False
    with pytest.raises(CampaignError, match="already referred by %s: a customer has one referrer" % a):
        refer(c, b, "cli:t")
    assert refer(b, c, "cli:t")
    with pytest.raises(CampaignError, match="would make a circle"):
        refer(c, a, "cli:t")
    with pytest.raises(CampaignError, match="is erased: referrals are between active customers"):
        refer(a, gone, "cli:t")
    with pytest.raises(CampaignError, match="is unknown"):
        refer("CNOBODY0000000000", old, "cli:t")
    buy(old, utcnow() - timedelta(days=31))
    with pytest.raises(CampaignError, match="has been buying since .*: referrals are for customers new within 30"):
        refer(a, old, "cli:t")
    with pytest.raises(CampaignError, match="whole numbers, 0 or more"):
        refer(a, old, "cli:t", referrer_points=-5)
    assert Referral.select().count() == 2


def test_reward_on_first_purchase_once(app):
    a, b, other = people("a", "b", "other")
    refer(a, b, "cli:t")
    assert reward_first_purchases([b, other]) == 0  # b has not bought yet
    seq = buy(b)
    buy(b)
    assert reward_first_purchases([b, b, other]) == 2
    assert reward_first_purchases([b]) == 0
    assert (ledger.balance(a), ledger.balance(b)) == (500, 200)
    assert keys_of(b) == ["referral:%s:referee" % b, "referral:%s:referrer" % b]
    entry = PointsEntry.get(PointsEntry.key == "referral:%s:referrer" % b)
    assert entry.reason == "referral" and entry.note == "referral: first sale T1 seq %d" % seq
    assert Referral.get(Referral.referee == b).rewarded_at is not None


def test_referral_after_a_recent_first_sale_rewards_at_once_with_given_points(app):
    a, b = people("a", "b")
    buy(b, utcnow() - timedelta(days=2))
    refer(a, b, "cli:t", referrer_points=800, referee_points=0)
    assert (ledger.balance(a), ledger.balance(b)) == (800, 0)
    assert keys_of(b) == ["referral:%s:referrer" % b]


def test_merged_referrer_rewarded_where_merged_erased_not(app):
    a, b, c, d, e = people("a", "b", "c", "d", "e")
    refer(a, b, "cli:t")
    refer(c, d, "cli:t")
    Customer.update(state="merged", merged_into=e).where(Customer.id == a).execute()
    Customer.update(state="erased").where(Customer.id == c).execute()
    buy(b)
    buy(d)
    assert reward_first_purchases([b, d]) == 3
    assert (ledger.balance(a), ledger.balance(e), ledger.balance(c)) == (0, 500, 0)
    assert (ledger.balance(b), ledger.balance(d)) == (200, 200)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.tuples(st.sampled_from(["buy", "refer", "report"]), st.integers(0, 5),
                                 st.lists(st.integers(0, 5), max_size=6)), max_size=25))
def test_random_reports_book_each_reward_exactly_once(app, events):
    run = next(_run)
    ids = ["C%03d%013d" % (run, i) for i in range(6)]
    Customer.insert_many([{"id": c} for c in ids]).execute()
    referrer, referees = ids[0], ids[1:5]  # ids[5] buys but was never referred
    bought, referred = set(), set()
    for what, who, batch in events:
        if what == "buy":
            buy(ids[who])
            bought.add(ids[who])
        elif what == "refer" and ids[who] in referees:
            refer(referrer, ids[who], "cli:t")
            referred.add(ids[who])
        else:  # ingest reports some customers (duplicates, non-buyers, in any order)
            reward_first_purchases([ids[i] for i in batch])
    reward_first_purchases(ids)
    reward_first_purchases(list(reversed(ids)))
    rewarded = bought & referred
    for r in referees:
        expected = ["referral:%s:referee" % r, "referral:%s:referrer" % r] if r in rewarded else []
        assert keys_of(r) == expected
    assert ledger.balance(referrer) == 500 * len(rewarded) == Customer.get_by_id(referrer).points
    assert keys_of(ids[5]) == []


def test_reversing_the_first_purchase_takes_both_rewards_back_once(app):
    a, b = people("a", "b")
    refer(a, b, "cli:t")
    first, second = buy(b), buy(b)
    reward_first_purchases([b])
    assert rewarded_referees([a, b]) == {b}
    assert take_back([(b, "T1", second)]) == {}  # not the first purchase: the rewards stay
    assert take_back([(b, "T1", first), (b, "T1", second)]) == {b: 0}
    assert (ledger.balance(a), ledger.balance(b)) == (0, 0)
    back = PointsEntry.get(PointsEntry.key == "referral:%s:referrer:back" % b)
    assert (back.delta, back.reason, back.dev, back.seq) == (-500, "referral_back", "T1", first)
    assert take_back([(b, "T1", first)]) == {}
    assert rewarded_referees([b]) == set() and Referral.get().taken_back_at is not None
    assert PointsEntry.select().where(PointsEntry.reason == "referral_back").count() == 2


def test_a_referrer_who_spent_the_reward_goes_to_zero_and_the_shortfall_is_kept(app):
    a, b = people("a", "b")
    refer(a, b, "cli:t")
    seq = buy(b)
    reward_first_purchases([b])
    ledger.post(a, -380, "burn", "spent:1")
    assert take_back([(b, "T1", seq)]) == {b: 380}
    assert (ledger.balance(a), ledger.balance(b)) == (0, 0) == (Customer.get_by_id(a).points, 0)
    back = PointsEntry.get(PointsEntry.key == "referral:%s:referrer:back" % b)
    assert back.delta == -120 and "120 of 500 points taken, 380 short" in back.note
    assert Referral.get().short == 380


def test_a_merged_referrer_gives_back_from_where_the_points_went_an_erased_one_cannot(app):
    a, b, c, d, e = people("a", "b", "c", "d", "e")
    refer(a, b, "cli:t")
    refer(c, d, "cli:t")
    sb, sd = buy(b), buy(d)
    reward_first_purchases([b, d])
    ledger.transfer(a, e, "merge:a", "cli:t")
    Customer.update(state="merged", merged_into=e).where(Customer.id == a).execute()
    Customer.update(state="erased").where(Customer.id == c).execute()
    assert take_back([(b, "T1", sb), (d, "T1", sd)]) == {b: 0, d: 500}
    assert (ledger.balance(e), ledger.balance(b), ledger.balance(d)) == (0, 0, 0)
