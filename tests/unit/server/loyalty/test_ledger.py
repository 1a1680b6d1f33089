"""The points ledger: keyed posting, balance, history, manual adjustment, transfer on merge, threads."""

import threading
from datetime import datetime

import pytest
from peewee import fn

from server.db import db
from server.loyalty import ledger
from server.loyalty.ledger import LedgerError
from server.loyalty.models import Customer, PointsEntry

JAN, JUN, DEC = datetime(2026, 1, 1), datetime(2026, 6, 1), datetime(2026, 12, 1)


def customer(cid="CAAAAAAAAAAAAAAAA", **fields):
    return Customer.create(id=cid, **fields).id


def cached(cid):
    return Customer.get_by_id(cid).points


def test_post_books_once_per_key_and_keeps_the_cache_equal_to_the_sum(app):
    c = customer()
    assert ledger.post(c, 100, "sale", "T1:1:earn", dev="T1", seq=1, expires_at=DEC, actor="ingest:T1") is True
    assert ledger.post(c, 100, "sale", "T1:1:earn", dev="T1", seq=1) is False
    assert ledger.post(c, -30, "burn", "auth:T1:7") is True
    assert cached(c) == ledger.balance(c) == 70
    e = PointsEntry.get(PointsEntry.key == "T1:1:earn")
    assert (e.dev, e.seq, e.expires_at, e.actor) == ("T1", 1, DEC, "ingest:T1")


def test_post_refuses_an_unknown_customer_or_a_missing_key(app):
    with pytest.raises(LedgerError, match="no customer CZZZZZZZZZZZZZZZZ"):
        ledger.post("CZZZZZZZZZZZZZZZZ", 5, "adjust", "k1")
    c = customer()
    with pytest.raises(LedgerError, match="needs a key"):
        ledger.post(c, 5, "adjust", None)
    with pytest.raises(LedgerError, match="at most 96"):
        ledger.post(c, 5, "adjust", "k" * 97)
    assert PointsEntry.select().count() == 0


def test_balance_of_a_customer_without_entries_is_zero(app):
    assert ledger.balance(customer()) == 0


def test_history_is_newest_first_and_limited(app):
    c = customer()
    for n in range(5):
        ledger.post(c, n + 1, "adjust", "k%d" % n, note="n%d" % n, actor="cli:root")
    rows = ledger.history(c, limit=3)
    assert [(r["delta"], r["key"], r["note"], r["actor"]) for r in rows] == [
        (5, "k4", "n4", "cli:root"), (4, "k3", "n3", "cli:root"), (3, "k2", "n2", "cli:root")]


def test_adjust_books_a_keyed_entry_with_its_reason_and_actor(app):
    c = customer()
    out = ledger.adjust(c, 250, "  goodwill, ticket 4410 ", "cli:alice")
    assert out["delta"] == 250 and out["balance"] == 250 and out["key"].startswith("adjust:")
    e = PointsEntry.get(PointsEntry.key == out["key"])
    assert (e.delta, e.reason, e.note, e.actor) == (250, "adjust", "goodwill, ticket 4410", "cli:alice")
    assert ledger.adjust(c, -250, "double booking", "cli:alice")["balance"] == 0
    assert cached(c) == ledger.balance(c) == 0


@pytest.mark.parametrize("delta, reason, actor, message", [
    (0, "why", "cli:a", "other than 0"), (1.5, "why", "cli:a", "whole number"), (True, "why", "cli:a", "whole number"),
    (5, "  ", "cli:a", "give a reason"), (5, "x" * 201, "cli:a", "give a reason"), (5, "why", "", "say who"),
])
def test_adjust_needs_a_whole_change_a_reason_and_an_actor(app, delta, reason, actor, message):
    c = customer()
    with pytest.raises(LedgerError, match=message):
        ledger.adjust(c, delta, reason, actor)
    assert PointsEntry.select().count() == 0


def test_adjust_never_takes_the_balance_below_zero(app):
    c = customer()
    ledger.adjust(c, 120, "opening balance", "cli:root")
    with pytest.raises(LedgerError, match="balance is 120.*deduct at most 120"):
        ledger.adjust(c, -121, "too much", "cli:root")
    assert cached(c) == ledger.balance(c) == 120


def test_adjust_refuses_a_merged_customer_and_names_the_one_to_adjust(app):
    dst = customer("CBBBBBBBBBBBBBBBB")
    src = customer(state="merged", merged_into=dst)
    with pytest.raises(LedgerError, match="adjust CBBBBBBBBBBBBBBBB instead"):
        ledger.adjust(src, 5, "why", "cli:root")


def test_transfer_moves_the_balance_with_its_expiry_dates_once(app):
    src, dst = customer(), customer("CBBBBBBBBBBBBBBBB")
    ledger.post(src, 100, "sale", "a", expires_at=JAN)
    ledger.post(src, 50, "sale", "b", expires_at=JUN)
    ledger.post(src, 20, "adjust", "c")
    ledger.post(src, -120, "burn", "d")          # uses up the January lot, then 20 of June's
    ledger.post(dst, 7, "sale", "e", expires_at=DEC)
    assert ledger.transfer(src, dst, "merge:%s" % src, "cli:root") == 50
    assert ledger.transfer(src, dst, "merge:%s" % src, "cli:root") == 50      # the first outcome again
    ins = PointsEntry.select().where(PointsEntry.reason == "merge_in").order_by(PointsEntry.id)
    assert [(e.delta, e.expires_at) for e in ins] == [(30, JUN), (20, None)]
    assert cached(src) == ledger.balance(src) == 0
    assert cached(dst) == ledger.balance(dst) == 57
    assert PointsEntry.select().where(PointsEntry.reason == "merge_out").count() == 1


def test_transfer_of_a_negative_balance_moves_the_debt(app):
    src, dst = customer(), customer("CBBBBBBBBBBBBBBBB")
    ledger.post(src, 10, "sale", "a", expires_at=JAN)
    ledger.post(src, -25, "refund", "b")
    assert ledger.transfer(src, dst, "m", "cli:root") == -15
    assert (cached(src), cached(dst)) == (0, -15)


def test_transfer_of_nothing_books_nothing_and_checks_its_customers(app):
    src, dst = customer(), customer("CBBBBBBBBBBBBBBBB")
    assert ledger.transfer(src, dst, "m", "cli:root") == 0 and PointsEntry.select().count() == 0
    with pytest.raises(LedgerError, match="same customer"):
        ledger.transfer(src, src, "m2", "cli:root")
    gone = customer("CCCCCCCCCCCCCCCCC", state="erased")
    with pytest.raises(LedgerError, match="is erased"):
        ledger.transfer(src, gone, "m3", "cli:root")


@pytest.mark.parametrize("entries, lots", [
    ([], []),
    ([(10, JAN), (5, None)], [(JAN, 10), (None, 5)]),
    ([(10, JUN), (10, JAN), (-15, None)], [(JUN, 5)]),
    ([(10, JAN), (-10, None)], []),
    ([(10, JAN), (-12, None)], [(None, -2)]),
    ([(10, None), (10, JAN), (-5, None)], [(JAN, 5), (None, 10)]),
])
def test_open_lots_use_up_what_expires_first(entries, lots):
    assert ledger.open_lots(entries) == lots


def test_concurrent_posts_of_overlapping_keys_count_each_key_once(app):
    c = customer()
    db.close()  # each thread opens its own connection to the same file
    keys = ["k%d" % n for n in range(60)]
    errors = []

    def worker(offset):
        try:
            for n in range(60):
                key = keys[(n + offset) % 60]
                ledger.post(c, int(key[1:]) + 1, "adjust", key)
        except Exception as exc:  # a failure in a thread must fail the test
            errors.append(exc)
        finally:
            db.close()
    threads = [threading.Thread(target=worker, args=(7 * i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PointsEntry.select().count() == 60
    assert cached(c) == ledger.balance(c) == sum(range(1, 61))
    assert PointsEntry.select(fn.COUNT(fn.DISTINCT(PointsEntry.key))).scalar() == 60
