"""Ingest and coupons/referrals: a refused coupon is flagged and the sale booked; a wholly reversed sale gives
its coupon back and takes the referral rewards of a first purchase back, in any arrival order, never twice."""

import calendar
import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.campaigns import coupons, settle
from server.campaigns.codes import new_code
from server.campaigns.models import Coupon, CouponFlag, Referral
from server.campaigns.referral import refer
from server.ingest.apply import apply_batch
from server.ingest.models import Record
from server.loyalty import ledger
from server.loyalty.models import Card, Customer, PointsEntry

NOW = datetime(2026, 3, 1, 12, 0)
TS = calendar.timegm((NOW - timedelta(hours=1)).timetuple())
_run = itertools.count(1)


def voucher(expires_at=NOW + timedelta(days=30), customer=None):
    return coupons.issue(customer, "amount_off", 500, "CNY", expires_at, "spring", "t:" + new_code(), "cli:t",
                         valid_from=NOW - timedelta(days=10), now=NOW - timedelta(days=10))


def rec(mk, dev, seq, kind="sale", ref=None, amount=5000, orig=None, coupon=None, tok=None):
    pairs = mk.sale(seq, ref=ref, amount=amount, orig=orig, tok=tok, ts=TS)
    if coupon:
        pairs.append(("coupon", coupon))
    return mk.record(dev, pairs, kind=kind)


def used(code):
    c = Coupon.get(Coupon.code == code)
    return None if c.used_dev is None else (c.used_dev, c.used_seq)


def test_a_sale_naming_a_refused_coupon_is_booked_and_flagged_once(app, add, mk):
    add("T1")
    add("T2")
    code = voucher()
    apply_batch([rec(mk, "T1", 1, coupon=code)], now=NOW)
    # T2 took the same voucher offline: its sale stands, the refusal is listed
    late = rec(mk, "T2", 1, ref="X1", coupon=code.lower(), tok=mk.tok(3))
    assert apply_batch([late], now=NOW).applied == [("T2", 1)]
    assert apply_batch([late], now=NOW).duplicates == [("T2", 1)]
    assert used(code) == ("T1", 1)
    [flag] = settle.flags()
    assert (flag["dev"], flag["seq"], flag["ref"], flag["code"], flag["outcome"]) == ("T2", 1, "X1", code.lower(),
                                                                                       "USED")
    assert flag["customer"] == Card.get(Card.tok == mk.tok(3)).customer_id and flag["amount"] == 5000
    assert Customer.get_by_id(flag["customer"]).points > 0  # the sale earned its points all the same
    apply_batch([rec(mk, "T2", 2, coupon="NOT-A-CODE"), rec(mk, "T2", 3, coupon=new_code()),
                 rec(mk, "T2", 4, coupon=voucher(expires_at=NOW - timedelta(days=1)))], now=NOW)
    assert [f["outcome"] for f in settle.flags()][::-1] == ["USED", "UNKNOWN", "UNKNOWN", "EXPIRED"]
    assert Record.select().count() == 5 and CouponFlag.select().count() == 4


def test_whole_refunds_and_voids_give_the_coupon_back_partial_ones_do_not(app, add, mk):
    add("T1")
    a, b, c = voucher(), voucher(), voucher()
    apply_batch([rec(mk, "T1", 1, ref="A", coupon=a), rec(mk, "T1", 2, ref="B", coupon=b),
                 rec(mk, "T1", 3, ref="C", coupon=c)], now=NOW)
    apply_batch([rec(mk, "T1", 4, "refund", ref="RA1", amount=2000, orig="A"),
                 rec(mk, "T1", 5, "void", ref="VB", amount=5000, orig="B")], now=NOW)
    assert (used(a), used(b), used(c)) == (("T1", 1), None, ("T1", 3))
    apply_batch([rec(mk, "T1", 6, "refund", ref="RA2", amount=3000, orig="A")], now=NOW)
    assert used(a) is None and Coupon.get(Coupon.code == a).given_back_from == "T1:1"
    # past its validity a coupon is not given back: it would be of no use
    apply_batch([rec(mk, "T1", 7, "refund", ref="RC", amount=5000, orig="C")], now=NOW + timedelta(days=31))
    assert used(c) == ("T1", 3)
    # given back, the coupon serves a new sale; a further reversal of the old sale leaves it there
    apply_batch([rec(mk, "T1", 8, ref="D", coupon=a)], now=NOW)
    apply_batch([rec(mk, "T1", 9, "refund", ref="RA3", amount=1, orig="A")], now=NOW)
    assert used(a) == ("T1", 8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(3)), cuts=st.lists(st.booleans(), min_size=3, max_size=3),
       again=st.lists(st.integers(0, 2), max_size=3), whole=st.booleans())
def test_any_arrival_order_gives_the_coupon_back_once_exactly_when_the_whole_sale_is_reversed(
        app, add, mk, order, cuts, again, whole):
    dev = "P%d" % next(_run)
    add(dev)
    code = voucher()
    records = [rec(mk, dev, 1, ref="S", coupon=code),
               rec(mk, dev, 2, "refund", ref="F1", amount=2000, orig="S"),
               rec(mk, dev, 3, "refund", ref="F2", amount=3000 if whole else 2999, orig="S")]
    batches, batch = [], []
    for i, cut in zip(order, cuts):
        batch.append(records[i])
        if cut:
            batches.append(batch)
            batch = []
    batches.append(batch + [records[i] for i in again])  # resends
    for b in batches:
        apply_batch(b, now=NOW)
    assert used(code) == (None if whole else (dev, 1))
    assert Record.select().where(Record.dev == dev).count() == 3


def test_reversing_a_referees_first_purchase_takes_the_rewards_back_in_any_order(app, add, mk):
    add("T1")
    a, b, c = "CREFERRER0000000A", "CNEWCOMER000000BB", "CNEWCOMER000000CC"
    for cid, n in ((a, 1), (b, 2), (c, 3)):
        Customer.create(id=cid)
        Card.create(tok=mk.tok(n), customer=cid)
    ledger.post(a, 100, "adjust", "start:a")
    refer(a, b, "cli:t", now=NOW)
    refer(a, c, "cli:t", now=NOW)
    apply_batch([rec(mk, "T1", 1, ref="B1", amount=100, tok=mk.tok(2))], now=NOW)
    assert ledger.balance(a) == 600
    apply_batch([rec(mk, "T1", 2, "refund", ref="B1R", amount=100, orig="B1", tok=mk.tok(2))], now=NOW)
    assert ledger.balance(a) == 100 and Referral.get(Referral.referee == b).taken_back_at is not None
    apply_batch([rec(mk, "T1", 3, "void", ref="B1V", amount=100, orig="B1")], now=NOW)
    assert ledger.balance(a) == 100  # never twice
    # c's first sale is voided before the sale itself reaches the server: rewarded, then taken back at once
    apply_batch([rec(mk, "T1", 5, "void", ref="C1V", amount=5000, orig="C1", tok=mk.tok(3))], now=NOW)
    apply_batch([rec(mk, "T1", 4, ref="C1", tok=mk.tok(3))], now=NOW)
    assert ledger.balance(a) == 100
    assert PointsEntry.get(PointsEntry.key == "referral:%s:referrer:back" % c).delta == -500
    assert ledger.balance(c) == 0 and Referral.get(Referral.referee == c).short == 0
    assert all(Customer.get_by_id(x).points == ledger.balance(x) for x in (a, b, c))
