"""Online authorisation: every answer code, replays, and concurrent spends from several processes."""

import multiprocessing
from datetime import datetime, timedelta

from server import db as server_db
from server.wallet import auth, cards, pin, service
from server.wallet.models import AuthAttempt, WalletAccount, WalletEntry

T0 = datetime(2025, 6, 1, 2, 0)


def tok(n):
    return "%064x" % (n * 7919 + 1)


def funded(card, amount, pin_=None, cur="CNY"):
    account = service.open_account(tok(card), cur=cur, pin=pin_, actor="test", now=T0)["id"]
    service.topup(account, amount, "fund:%d" % card, now=T0, tiers=[])
    return account


def test_approval_books_one_spend_and_a_replay_books_nothing(app):
    account = funded(1, 10000)
    first = auth.authorise("T1", 5, tok(1), 2500, "CNY", None, now=T0, merchant="M1")
    assert first == {"ok": True, "code": "APPROVED", "bal": 7500, "cur": "CNY"}
    assert auth.authorise("T1", 5, tok(1), 2500, "CNY", None, now=T0 + timedelta(minutes=1)) == first
    entry = WalletEntry.get(WalletEntry.key == "auth:T1:5")
    assert (entry.account_id, entry.delta, entry.kind, entry.offline, entry.merchant) == (account, -2500, "spend",
                                                                                         False, "M1")
    assert WalletAccount.get_by_id(account).balance == 7500 and AuthAttempt.select().count() == 1
    # the same aid for another amount is not an approval of it
    assert auth.authorise("T1", 5, tok(1), 9999, "CNY", None)["code"] == "AID_REUSED"
    assert WalletAccount.get_by_id(account).balance == 7500


def test_declines(app):
    funded(1, 1000)
    funded(2, 1000, cur="HKD")
    cases = [(tok(1), 1001, "CNY", "INSUFFICIENT", 1000), (tok(3), 100, "CNY", "UNKNOWN_CARD", None),
             (tok(2), 100, "CNY", "WRONG_CURRENCY", None), (tok(1), 0, "CNY", "BAD_AMOUNT", None),
             (tok(1), "12.50", "CNY", "BAD_AMOUNT", None), (tok(1), True, "CNY", "BAD_AMOUNT", None)]
    for aid, (card, amount, cur, code, bal) in enumerate(cases):
        answer = auth.authorise("T1", aid, card, amount, cur, None, now=T0)
        assert answer["code"] == code and answer["bal"] == bal and answer["ok"] is False
    assert AuthAttempt.select().count() == len(cases)
    assert AuthAttempt.get(AuthAttempt.code == "UNKNOWN_CARD").tok == tok(3)
    assert AuthAttempt.select().where(AuthAttempt.tok.is_null(False)).count() == 1
    assert WalletEntry.select().where(WalletEntry.kind == "spend").count() == 0


def test_frozen_card_is_refused_online(app):
    funded(1, 5000)
    cards.freeze(tok(1), "cli:test", "stolen", now=T0)
    assert auth.authorise("T1", 1, tok(1), 100, "CNY", None, now=T0) == {"ok": False, "code": "FROZEN", "bal": None,
                                                                         "cur": "CNY"}
    new = cards.reissue(tok(1), tok(2), "cli:test", now=T0)
    assert auth.authorise("T1", 2, tok(1), 100, "CNY", None, now=T0)["code"] == "FROZEN"
    assert auth.authorise("T1", 3, tok(2), 100, "CNY", None, now=T0) == {"ok": True, "code": "APPROVED",
                                                                         "bal": new["balance"] - 100, "cur": "CNY"}


def test_pin_required_checked_and_locking(app):
    account = funded(1, 5000, pin_="4711")
    assert auth.authorise("T1", 1, tok(1), 100, "CNY", None, now=T0)["code"] == "PIN_REQUIRED"
    assert auth.authorise("T1", 2, tok(1), 100, "CNY", "4711", now=T0)["code"] == "APPROVED"
    codes = [auth.authorise("T1", 10 + i, tok(1), 100, "CNY", "0000", now=T0)["code"] for i in range(5)]
    assert codes == ["BAD_PIN"] * 4 + ["LOCKED"]
    assert auth.authorise("T1", 20, tok(1), 100, "CNY", "4711", now=T0 + timedelta(minutes=29))["code"] == "LOCKED"
    # a replayed bad-PIN request is answered again, not counted again
    assert auth.authorise("T1", 10, tok(1), 100, "CNY", "0000", now=T0)["code"] == "BAD_PIN"
    assert auth.authorise("T1", 21, tok(1), 100, "CNY", "4711", now=T0 + timedelta(minutes=31))["code"] == "APPROVED"
    assert WalletAccount.get_by_id(account).balance == 4800
    pin.reset_pin(account, "cli:admin")
    assert auth.authorise("T1", 22, tok(1), 100, "CNY", None, now=T0)["code"] == "APPROVED"


def _spender(url, card_tok, dev, n, amount, start, out):
    """One terminal process: its own connection to the SQLite file, n authorisations as fast as it can."""
    server_db.init(url)
    start.wait()
    out.put([auth.authorise(dev, i, card_tok, amount, "CNY", None)["code"] for i in range(n)])


def test_concurrent_spends_from_several_processes_never_overdraw(app):
    account = funded(1, 10000)
    server_db.db.close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    url = app.config["DATABASE_URL"]
    procs = [ctx.Process(target=_spender, args=(url, tok(1), "T%d" % p, 10, 700, start, out)) for p in range(4)]
    for p in procs:
        p.start()
    start.set()
    codes = [code for _ in procs for code in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    # 10000 holds 14 spends of 700: exactly 14 approved, whatever the interleaving, and 200 left
    assert codes.count("APPROVED") == 14 and codes.count("INSUFFICIENT") == 26
    row = WalletAccount.get_by_id(account)
    spent = [e.delta for e in WalletEntry.select().where(WalletEntry.kind == "spend")]
    assert row.balance == 200 == 10000 + sum(spent) and len(spent) == 14
    assert AuthAttempt.select().count() == 40
