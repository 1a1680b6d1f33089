"""Stale online approvals: released after the grace period once, a late record takes the money again once."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peewee import fn

from server.db import db
from server.wallet import WalletError, auth, cards, offline, report, service, stale
from server.wallet.models import AuthAttempt, WalletAccount, WalletEntry

T0 = datetime(2025, 6, 1, 2, 0)
DAY = timedelta(minutes=1440)


def tok(n):
    return "%064x" % (n * 7919 + 1)


def funded(card, amount):
    account = service.open_account(tok(card), actor="test", now=T0 - DAY)["id"]
    service.topup(account, amount, "fund:%d" % card, now=T0 - DAY, tiers=[])
    return account


def record(seq, card, amount, aid=None, tried=None, at=T0, dev="T1"):
    return {"dev": dev, "seq": seq, "kind": "svspend", "ref": "R%d" % seq, "orig": None, "amount": amount,
            "cur": "CNY", "tok": tok(card), "auth": aid, "tried": tried, "merchant": "M1",
            "ts": int(at.replace(tzinfo=timezone.utc).timestamp())}


def arrive(txs, now):
    with db.atomic():
        return offline.apply_txs(txs, now, {"card": 20000, "terminal": 100000})


def balance(account):
    row = WalletAccount.get_by_id(account)
    total = WalletEntry.select(fn.SUM(WalletEntry.delta)).where(WalletEntry.account == account).scalar()
    assert row.balance == total  # the cache always equals the ledger
    return row.balance


def test_an_approval_whose_record_never_comes_is_released_once_after_the_grace(app):
    account = funded(1, 10000)
    assert auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0, merchant="M1")["ok"]
    assert AuthAttempt.get().held
    assert stale.release(now=T0 + DAY - timedelta(minutes=1)) == {"released": 0, "amounts": {}}
    assert stale.release(now=T0 + DAY) == {"released": 1, "amounts": {"CNY": 2500}}
    assert balance(account) == 10000
    back = WalletEntry.get(WalletEntry.key == "auth:T1:7:release")
    assert (back.kind, back.delta, back.flag, back.orig, back.dev, back.merchant, back.actor) == (
        "release", 2500, "released", "auth:T1:7", "T1", "M1", "job:stale")
    attempt = AuthAttempt.get()
    assert not attempt.held and attempt.released_at == T0 + DAY
    assert stale.release(now=T0 + 3 * DAY)["released"] == 0  # a second run finds nothing
    assert balance(account) == 10000
    assert [e["key"] for e in service.flagged(flag="released")] == ["auth:T1:7:release"]


def test_an_approval_met_by_its_record_is_never_released(app):
    account = funded(1, 10000)
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0)
    out = arrive([record(1, 1, 2500, aid=7)], T0 + timedelta(minutes=1))
    assert out[0]["flag"] is None and not AuthAttempt.get().held
    assert stale.release(now=T0 + 2 * DAY)["released"] == 0
    assert balance(account) == 7500


def test_an_offline_spend_naming_an_unanswered_request_settles_it(app):
    account = funded(1, 10000)
    auth.authorise("T1", 8, tok(1), 2500, "CNY", None, now=T0)  # approved, but the answer never reached the till
    arrive([record(1, 1, 2500, tried=8)], T0 + timedelta(hours=2))
    assert stale.release(now=T0 + 2 * DAY)["released"] == 0
    assert balance(account) == 7500


def test_a_record_before_its_request_leaves_nothing_held(app):
    account = funded(1, 10000)
    arrive([record(1, 1, 2500, aid=9)], T0)
    assert auth.authorise("T1", 9, tok(1), 2500, "CNY", None, now=T0)["ok"]
    assert not AuthAttempt.get().held
    assert stale.release(now=T0 + 2 * DAY)["released"] == 0
    assert balance(account) == 7500


def test_a_record_after_the_release_takes_the_money_again_once_flagged(app):
    account = funded(1, 10000)
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0, merchant="M1")
    stale.release(now=T0 + DAY)
    late = T0 + DAY + timedelta(hours=1)
    out = arrive([record(1, 1, 2500, aid=7)], late)
    assert out[0] == {"sv": 7500, "svcur": "CNY", "flag": "late_after_release"}
    entry = WalletEntry.get(WalletEntry.key == "auth:T1:7:late")
    assert (entry.kind, entry.delta, entry.seq, entry.offline) == ("spend", -2500, 1, False)
    assert balance(account) == 7500
    # the same record again (another ingest process, a replay): nothing more
    assert arrive([record(1, 1, 2500, aid=7)], late)[0]["flag"] == "late_after_release"
    assert balance(account) == 7500
    assert stale.release(now=late + 2 * DAY)["released"] == 0
    assert [e["flag"] for e in service.flagged()] == ["released", "late_after_release"]


def test_a_late_record_is_booked_even_when_the_money_was_spent_meanwhile(app):
    account = funded(1, 3000)
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0)
    stale.release(now=T0 + DAY)
    assert auth.authorise("T1", 8, tok(1), 3000, "CNY", None, now=T0 + DAY)["ok"]
    arrive([record(1, 1, 3000, aid=8), record(2, 1, 2500, aid=7)], T0 + DAY + timedelta(minutes=5))
    assert balance(account) == -2500  # the goods are gone: booked, flagged for review
    assert WalletEntry.get(WalletEntry.key == "auth:T1:7:late").flag == "late_after_release"


def test_release_follows_a_reissue_and_the_report_balances(app):
    funded(1, 10000)
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0, merchant="M1")
    cards.freeze(tok(1), "cli:test", "lost", now=T0 + timedelta(hours=1))
    new = cards.reissue(tok(1), tok(2), "cli:test", now=T0 + timedelta(hours=2))
    stale.release(now=T0 + DAY)
    assert balance(new["id"]) == 10000
    day = report.daily((T0 + DAY).date().isoformat(), tz="UTC")
    assert day["totals"][0]["release"] == 2500


def test_declines_are_never_held(app):
    funded(1, 100)
    assert auth.authorise("T1", 1, tok(1), 2500, "CNY", None, now=T0)["code"] == "INSUFFICIENT"
    assert auth.authorise("T1", 2, tok(9), 2500, "CNY", None, now=T0)["code"] == "UNKNOWN_CARD"
    assert AuthAttempt.select().where(AuthAttempt.held == True).count() == 0  # noqa: E712


def test_grace_comes_from_the_config(app):
    funded(1, 10000)
    auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=T0)
    app.config["WALLET_AUTH_GRACE_MIN"] = 30
    assert stale.release(now=T0 + timedelta(minutes=30))["released"] == 1
    app.config["WALLET_AUTH_GRACE_MIN"] = 0
    with pytest.raises(WalletError, match="WALLET_AUTH_GRACE_MIN must be a whole number of minutes above 0"):
        stale.release(now=T0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["auth", "record", "release"]), min_size=1, max_size=7))
def test_any_order_of_approval_record_and_release_takes_the_money_once(tmp_path_factory, steps):
    from server import create_app

    path = tmp_path_factory.mktemp("stale")
    app = create_app({"INSTANCE_PATH": str(path / "i"), "DATABASE_URL": "sqlite:///" + str(path / "p.db"),
                      "SECRET_KEY_FILE": str(path / "k"), "INGEST": False, "TESTING": True})
    with app.app_context():
        account = funded(1, 10000)
        now = T0
        for step in steps:
            now += timedelta(hours=13)  # two steps apart pass the grace
            if step == "auth":
                auth.authorise("T1", 7, tok(1), 2500, "CNY", None, now=now)
            elif step == "record":
                arrive([record(1, 1, 2500, aid=7)], now)
            else:
                stale.release(now=now)
        came = "record" in steps
        held = AuthAttempt.select().where(AuthAttempt.held == True).exists()  # noqa: E712
        assert balance(account) == (7500 if came or held else 10000)
        db.close()
