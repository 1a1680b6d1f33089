"""Terminal stored-value records: offline spends always booked, flagged by limits, freezes and overdrafts."""

from datetime import datetime, timedelta, timezone

from peewee import fn

from server.db import db
from server.loyalty.models import Card, Customer
from server.wallet import auth, cards, offline, service
from server.wallet.models import WalletAccount, WalletEntry

T0 = datetime(2025, 6, 1, 2, 0)
LIMITS = {"card": 20000, "terminal": 100000}


def tok(n):
    return "%064x" % (n * 7919 + 1)


def ts(when):
    return int(when.replace(tzinfo=timezone.utc).timestamp())


def tx(seq, kind, amount, card, at, dev="T1", auth=None, cur="CNY", **extra):
    return dict({"dev": dev, "seq": seq, "kind": kind, "ref": "R%d" % seq, "orig": None, "amount": amount, "cur": cur,
                 "tok": tok(card), "auth": auth, "merchant": "M1", "ts": ts(at)}, **extra)


def apply(txs, now, limits=LIMITS):
    with db.atomic():
        return offline.apply_txs(txs, now, limits)


def funded(card, amount, now=T0 - timedelta(days=1)):
    account = service.open_account(tok(card), actor="test", now=now)["id"]
    if amount:
        service.topup(account, amount, "fund:%d" % card, now=now, tiers=[])
    return account


def ledger_ok():
    sums = dict(WalletEntry.select(WalletEntry.account, fn.SUM(WalletEntry.delta)).group_by(WalletEntry.account)
                .tuples())
    for account in WalletAccount.select():
        assert account.balance == sums.get(account.id, 0)


def test_offline_spend_within_limits_is_booked_unflagged(app):
    account = funded(1, 50000)
    out = apply([tx(1, "svspend", 15000, 1, T0)], T0 + timedelta(hours=1))
    assert out == [{"sv": 35000, "svcur": "CNY", "flag": None}]
    entry = WalletEntry.get(WalletEntry.key == "T1:1:svspend")
    assert (entry.account_id, entry.delta, entry.offline, entry.at, entry.merchant) == (account, -15000, True, T0, "M1")
    ledger_ok()


def test_card_limit_overdraft_and_terminal_limit_are_flagged_yet_booked(app):
    funded(1, 50000)
    funded(2, 5000)
    for card in range(3, 9):
        funded(card, 50000)
    now = T0 + timedelta(hours=2)
    out = apply([tx(1, "svspend", 15000, 1, T0),
                 tx(2, "svspend", 10000, 1, T0 + timedelta(minutes=1)),  # card 1 at T1: 25000 > 20000
                 tx(3, "svspend", 8000, 2, T0 + timedelta(minutes=2))]  # card 2 had 5000: overdraft
                + [tx(4 + i, "svspend", 19000, 3 + i, T0 + timedelta(minutes=3 + i)) for i in range(6)], now)
    # terminal: 15000 + 10000 + 8000 + 19000 * 4 = 109000 > 100000 from the 4th spend of 19000 (seq 7) on
    assert [o["flag"] for o in out] == [None, "over_limit", "overdraft", None, None, None, "over_limit",
                                        "over_limit", "over_limit"]
    assert out[2]["sv"] == -3000
    assert WalletEntry.select().where(WalletEntry.offline == True).count() == 9  # noqa: E712
    ledger_ok()


def test_reconciled_spends_and_online_approvals_restart_the_counts(app):
    funded(1, 100000)
    first = T0 + timedelta(hours=1)
    assert apply([tx(1, "svspend", 15000, 1, T0)], first)[0]["flag"] is None
    # made after the server received seq 1: seq 1 no longer counts against the card
    assert apply([tx(2, "svspend", 15000, 1, first + timedelta(minutes=1))], first + timedelta(hours=1))[0][
        "flag"] is None
    # offline again: seq 3 and 5 would be 30000 on the card, but an online approval came between them
    later = first + timedelta(hours=3)
    assert auth.authorise("T1", "a1", tok(1), 100, "CNY", None, now=later + timedelta(minutes=1))["ok"]
    out = apply([tx(3, "svspend", 15000, 1, later),
                 tx(4, "svspend", 100, 1, later + timedelta(minutes=1), auth="a1"),
                 tx(5, "svspend", 15000, 1, later + timedelta(minutes=2))], later + timedelta(hours=1))
    assert [o["flag"] for o in out] == [None, None, None]
    out = apply([tx(6, "svspend", 15000, 1, later + timedelta(minutes=3))], later + timedelta(hours=1))
    assert out[0]["flag"] == "over_limit"  # 5 and 6 are 30000 since the approval, both unreconciled then
    ledger_ok()


def test_authorised_spend_is_not_booked_twice_and_a_lost_authorisation_is_booked(app):
    account = funded(1, 50000)
    assert auth.authorise("T1", 7, tok(1), 2000, "CNY", None, now=T0)["code"] == "APPROVED"
    out = apply([tx(1, "svspend", 2000, 1, T0, auth=7), tx(2, "svspend", 3000, 1, T0, auth=8)], T0)
    assert out == [{"sv": 48000, "svcur": "CNY", "flag": None}, {"sv": 45000, "svcur": "CNY", "flag": None}]
    assert WalletEntry.get(WalletEntry.key == "auth:T1:8").offline is False
    assert WalletAccount.get_by_id(account).balance == 45000
    # the terminal's replayed request for aid 8 now gets the approval its record proves
    assert auth.authorise("T1", 8, tok(1), 3000, "CNY", None, now=T0) == {"ok": True, "code": "APPROVED",
                                                                          "bal": 45000, "cur": "CNY"}
    ledger_ok()


def test_offline_spend_after_an_unanswered_request_is_never_booked_twice(app):
    account = funded(1, 50000)
    # approved and booked here, but the answer never reached the terminal, which then spent offline
    assert auth.authorise("T1", 7, tok(1), 2000, "CNY", None, now=T0)["ok"]
    # request 8 never reached the server before the terminal gave up and spent offline
    out = apply([tx(1, "svspend", 2000, 1, T0, tried=7), tx(2, "svspend", 3000, 1, T0, tried=8)], T0)
    assert out == [{"sv": 48000, "svcur": "CNY", "flag": None}, {"sv": 45000, "svcur": "CNY", "flag": None}]
    assert WalletEntry.get(WalletEntry.key == "auth:T1:8").offline is True
    # request 8 arrives late: answered from the booked spend, not booked again
    assert auth.authorise("T1", 8, tok(1), 3000, "CNY", None, now=T0)["bal"] == 45000
    assert WalletAccount.get_by_id(account).balance == 45000
    ledger_ok()


def test_frozen_card_offline_spend_is_booked_and_flagged_by_the_spend_time(app):
    account = funded(1, 50000)
    frozen_at, unfrozen_at = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    cards.freeze(tok(1), "cli:test", "lost", now=frozen_at)
    assert auth.authorise("T1", 1, tok(1), 100, "CNY", None, now=frozen_at)["code"] == "FROZEN"
    cards.unfreeze(tok(1), "cli:test", "found", now=unfrozen_at)
    out = apply([tx(1, "svspend", 1000, 1, frozen_at - timedelta(minutes=5)),
                 tx(2, "svspend", 1000, 1, frozen_at + timedelta(minutes=5)),
                 tx(3, "svspend", 1000, 1, unfrozen_at + timedelta(minutes=5))], unfrozen_at + timedelta(hours=1))
    assert [o["flag"] for o in out] == [None, "frozen", None]
    assert WalletAccount.get_by_id(account).balance == 47000
    ledger_ok()


def test_unknown_cards_spend_lands_on_a_closed_account_and_topup_sells_a_card(app):
    Customer.create(id="C" + "A" * 16)
    Card.create(tok=tok(9), customer="C" + "A" * 16)
    out = apply([tx(1, "svspend", 500, 8, T0), tx(2, "svspend", 500, 8, T0), tx(3, "svtopup", 100000, 9, T0)], T0)
    assert [o["flag"] for o in out] == ["unknown_card", "unknown_card", None]
    assert [o["sv"] for o in out] == [-500, -1000, 112000]  # the default tiers give 12000 on 1000.00
    unknown, sold = WalletAccount.get(WalletAccount.tok == tok(8)), WalletAccount.get(WalletAccount.tok == tok(9))
    assert (unknown.state, unknown.customer_id) == ("closed", None)
    assert (sold.state, sold.customer_id) == ("active", "C" + "A" * 16)
    assert apply([tx(4, "svspend", 500, 8, T0)], T0)[0]["flag"] == "unknown_card"  # and stays so
    assert auth.authorise("T1", 1, tok(8), 100, "CNY", None, now=T0)["code"] == "FROZEN"
    ledger_ok()


def test_refunds_beyond_spends_wrong_currency_and_replays(app):
    funded(1, 10000)
    now = T0 + timedelta(hours=1)
    batch = [tx(1, "svspend", 3000, 1, T0), tx(2, "svrefund", 3000, 1, T0, orig="R1"),
             tx(3, "svrefund", 1, 1, T0, orig="R1"), tx(4, "svspend", 100, 1, T0, cur="HKD")]
    out = apply(batch, now)
    assert [o["flag"] for o in out] == [None, None, "over_limit", "wrong_currency"]
    again = apply(list(reversed(batch)), now + timedelta(hours=1))
    assert [o["flag"] for o in again] == ["wrong_currency", "over_limit", None, None]
    assert WalletEntry.select().count() == 5 and WalletAccount.get().balance == 10000 - 3000 + 3000 + 1 - 100
    assert WalletEntry.get(WalletEntry.key == "T1:2:svrefund").note == "refund of R1"
    ledger_ok()


def test_batch_costs_a_fixed_number_of_queries(app):
    for card in range(1, 4):
        funded(card, 50000)

    def count(n):
        sqls = []
        txs = [tx(1000 * n + i, "svspend", 10, 1 + i % 3, T0, dev="T%d" % (i % 4)) for i in range(n)]
        original = db.obj.execute_sql

        def spy(sql, params=None, *args, **kwargs):
            sqls.append(sql)
            return original(sql, params, *args, **kwargs)
        db.obj.execute_sql = spy
        try:
            apply(txs, T0)
        finally:
            db.obj.execute_sql = original
        return len(sqls)
    assert count(5) == count(100) > 5
