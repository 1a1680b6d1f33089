"""agent/core/offline.py: offline stored-value limits counted from a real outbox file."""

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import offline, records
from agent.core.outbox import Outbox

A = {"tok": "a" * 64, "bin": "622202", "last4": "0004"}
B = {"tok": "b" * 64, "bin": "621700", "last4": "9876"}
LIMITS = {"card": 20000, "terminal": 30000}


@pytest.fixture
def outbox(tmp_path):
    o = Outbox(str(tmp_path / "outbox.log"), max_bytes=1 << 20, max_count=1000)
    yield o
    o.close()


def spend(outbox, card, amount, auth=None, tried=None, op="svspend"):
    req = {"op": op, "ref": "R%d" % outbox.next_seq, "amount": amount}
    if op == "svrefund":
        req["orig"] = "R1"
    return outbox.append(lambda s: records.tx("T1", s, 1, req, "CNY", card, None, auth, tried))[0]


def test_card_limit_counts_only_that_cards_offline_spends(outbox):
    spend(outbox, A, 15000)
    spend(outbox, B, 5000)
    assert offline.exposure(outbox.pending(), A["tok"]) == (15000, 20000)
    assert offline.allowed(outbox.pending(), A["tok"], 5000, LIMITS) == (True, None)  # up to the limit
    assert offline.allowed(outbox.pending(), A["tok"], 5001, LIMITS) == (False, "card_limit")
    assert offline.allowed(outbox.pending(), B["tok"], 10000, LIMITS) == (True, None)


def test_terminal_limit_counts_every_card(outbox):
    spend(outbox, A, 15000)
    spend(outbox, B, 14000)
    assert offline.allowed(outbox.pending(), B["tok"], 1000, LIMITS) == (True, None)
    assert offline.allowed(outbox.pending(), B["tok"], 1001, LIMITS) == (False, "terminal_limit")
    c = {"tok": "c" * 64, "bin": "622202", "last4": "1111"}
    assert offline.allowed(outbox.pending(), c["tok"], 1001, LIMITS) == (False, "terminal_limit")


def test_approved_spends_and_other_records_do_not_count(outbox):
    spend(outbox, A, 19000, auth=5)          # approved online: the server has it already
    spend(outbox, A, 1000, tried=6)          # offline after an unanswered request: counts
    spend(outbox, A, 50000, op="svtopup")    # a top-up not yet booked gives no offline credit
    spend(outbox, A, 50000, op="svrefund")
    outbox.append(lambda s: records.tx("T1", s, 1, {"op": "sale", "ref": "S", "amount": 90000}, "CNY", A))
    assert offline.exposure(outbox.pending(), A["tok"]) == (1000, 1000)


def test_acked_records_no_longer_count_and_the_count_survives_a_restart(outbox, tmp_path):
    first = spend(outbox, A, 15000)
    spend(outbox, A, 5000)
    assert offline.allowed(outbox.pending(), A["tok"], 1, LIMITS) == (False, "card_limit")
    outbox.close()
    reopened = Outbox(str(tmp_path / "outbox.log"), max_bytes=1 << 20, max_count=1000)
    try:
        assert offline.exposure(reopened.pending(), A["tok"]) == (20000, 20000)
        reopened.ack(first)  # the server reconciled the first spend
        assert offline.allowed(reopened.pending(), A["tok"], 15000, LIMITS) == (True, None)
        assert offline.allowed(reopened.pending(), A["tok"], 15001, LIMITS) == (False, "card_limit")
    finally:
        reopened.close()


def test_frozen_cards_are_refused_whatever_the_exposure(outbox):
    assert offline.allowed(outbox.pending(), A["tok"], 1, LIMITS, frozenset([A["tok"]])) == (False, "frozen_card")
    assert offline.allowed(outbox.pending(), B["tok"], 1, LIMITS, frozenset([A["tok"]])) == (True, None)


def test_zero_limits_allow_no_offline_spend(outbox):
    assert offline.allowed([], A["tok"], 1, {"card": 0, "terminal": 100}) == (False, "card_limit")
    assert offline.allowed([], A["tok"], 1, {"card": 100, "terminal": 0}) == (False, "terminal_limit")


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(
    st.tuples(st.just("spend"), st.sampled_from("ABC"), st.integers(1, 12000)),
    st.tuples(st.just("online"), st.sampled_from("ABC"), st.integers(1, 50000)),
    st.tuples(st.just("ack"), st.integers(0, 40), st.just(0))), max_size=40))
def test_offline_exposure_never_passes_a_limit(steps):
    """Spends checked and stored one after another (as the agent's loop does), acks in any
    order: what is spent offline and not yet reconciled never exceeds either limit."""
    cards = {name: {"tok": name.lower() * 64, "bin": "622202", "last4": "0000"} for name in "ABC"}
    with tempfile.TemporaryDirectory() as tmp:
        o = Outbox(os.path.join(tmp, "outbox.log"), max_bytes=1 << 20, max_count=1000)
        try:
            for kind, who, amount in steps:
                if kind == "ack":
                    o.ack(who)
                    continue
                card = cards[who]
                if kind == "online":
                    spend(o, card, amount, auth=o.next_seq)
                elif offline.allowed(o.pending(), card["tok"], amount, LIMITS)[0]:
                    spend(o, card, amount)
                terminal = offline.exposure(o.pending(), "")[1]
                assert terminal <= LIMITS["terminal"]
                for c in cards.values():
                    assert offline.exposure(o.pending(), c["tok"])[0] <= LIMITS["card"]
        finally:
            o.close()
