"""Stored-value service: open, top-up bonuses, spend, refund limits, statements, owners, reminders, amounts."""

from datetime import datetime, timedelta

import pytest

from server.loyalty.models import Customer
from server.wallet import WalletError, cards, service
from server.wallet.models import WalletAccount, WalletEntry, WalletEvent

T0 = datetime(2025, 6, 1, 2, 0)
TIERS = [{"min": 100000, "bonus": 10000}, {"min": 50000, "bonus": 4000}]


def tok(n):
    return "%064x" % (n * 7919 + 1)


def customer(n):
    return Customer.create(id="C%016d" % n).id


def test_open_account_checks_its_inputs(app):
    cust = customer(1)
    account = service.open_account(tok(1), cust, "CNY", actor="cli:test", bin="622848", last4="0042", now=T0)
    assert account["id"].startswith("W") and len(account["id"]) == 17
    assert (account["customer"], account["balance"], account["state"], account["pin"], account["low_balance"]) == (
        cust, 0, "active", False, 5000)
    assert "tok" not in account
    for args, message in [((tok(1),), "already has stored-value account %s" % account["id"]),
                          (("6228480000000042",), "64 lowercase hex"),
                          ((tok(2), "C0000000000000099"), "no customer C0000000000000099"),
                          ((tok(2), None, "cny"), "ISO 4217"),
                          ((tok(2), None, "CNY", "12"), "4 to 6 digits")]:
        with pytest.raises(WalletError, match=message):
            service.open_account(*args)
    Customer.update(state="merged", merged_into=cust).where(Customer.id == customer(2)).execute()
    with pytest.raises(WalletError, match="merged into %s: open the account for %s" % (cust, cust)):
        service.open_account(tok(2), "C%016d" % 2)


def test_topup_books_the_highest_bonus_tier_as_its_own_entry_once(app):
    account = service.open_account(tok(1), now=T0)["id"]
    out = service.topup(account, 150000, "k1", dev="T1", merchant="M1", actor="web:alice", now=T0, tiers=TIERS)
    assert out == {"account": account, "key": "k1", "booked": True, "amount": 150000, "bonus": 10000,
                   "balance": 160000, "cur": "CNY"}
    again = service.topup(tok(1), 150000, "k1", now=T0, tiers=TIERS)
    assert again == dict(out, booked=False)
    assert service.topup(account, 50000, "k2", now=T0, tiers=TIERS)["bonus"] == 4000
    assert service.topup(account, 49999, "k3", now=T0, tiers=TIERS)["bonus"] == 0
    bonus = WalletEntry.get(WalletEntry.key == "k1:bonus")
    assert (bonus.kind, bonus.delta, bonus.orig, bonus.merchant) == ("bonus", 10000, "k1", "M1")
    assert WalletAccount.get_by_id(account).balance == 160000 + 54000 + 49999
    with pytest.raises(WalletError, match="key k1 is already booked as a topup"):
        service.spend(account, 1, "k1")


def test_default_and_configured_tiers(app):
    account = service.open_account(tok(1), now=T0)["id"]
    assert service.topup(account, 100000, "k1")["bonus"] == 12000
    app.config["WALLET_BONUS_TIERS"] = [{"min": 1000, "bonus": 1}]
    assert service.topup(account, 100000, "k2")["bonus"] == 1
    with pytest.raises(WalletError, match="bonus tier"):
        service.topup(account, 100000, "k3", tiers=[{"min": 0, "bonus": 1}])


def test_spend_and_refund_never_more_than_spent(app):
    account = service.open_account(tok(1), now=T0)["id"]
    service.topup(account, 10000, "k1", tiers=[])
    with pytest.raises(WalletError, match="holds 100.00 CNY, less than 100.01"):
        service.spend(account, 10001, "s1")
    assert service.spend(account, 6000, "s1", dev="T1")["balance"] == 4000
    assert service.refund("s1", 2500, "r1", actor="web:alice")["balance"] == 6500
    with pytest.raises(WalletError, match="refund at most 35.00"):
        service.refund("s1", 3501, "r2")
    assert service.refund("s1", 2500, "r1")["booked"] is False  # a replay is not a second refund
    assert service.refund("s1", 3500, "r2")["balance"] == 10000
    with pytest.raises(WalletError, match="no stored-value spend booked as 'nope'"):
        service.refund("nope", 1, "r3")


def test_refund_of_a_spend_on_a_reissued_card_goes_to_the_new_account(app):
    old = service.open_account(tok(1), now=T0)["id"]
    service.topup(old, 10000, "k1", tiers=[])
    service.spend(old, 4000, "s1")
    new = cards.reissue(tok(1), tok(2), "cli:test")["id"]
    out = service.refund("s1", 4000, "r1")
    assert out["account"] == new and out["balance"] == 10000
    assert WalletAccount.get_by_id(old).balance == 0


def test_frozen_card_cannot_be_topped_up_or_spent_from(app):
    account = service.open_account(tok(1), now=T0)["id"]
    service.topup(account, 10000, "k1", tiers=[])
    cards.freeze(tok(1), "cli:test", "lost", now=T0)
    for call in (lambda: service.topup(account, 1, "k2"), lambda: service.spend(account, 1, "s1")):
        with pytest.raises(WalletError, match="frozen .* since 2025-06-01T02:00:00Z; unfreeze it if found, or reissue"):
            call()


def test_adjust_settles_an_overdraft(app):
    account = service.open_account(tok(1), now=T0)["id"]
    assert service.adjust(account, 300, "a1", "cli:root", "overdraft")["balance"] == 300
    assert service.adjust(account, -300, "a2", "cli:root", "error")["balance"] == 0
    with pytest.raises(WalletError, match="reason 'because'"):
        service.adjust(account, 1, "a3", "cli:root", "because")
    assert WalletEntry.get(WalletEntry.key == "a1").note == "overdraft"


def test_statement_has_running_balance_and_window(app):
    account = service.open_account(tok(1), now=T0)["id"]
    for day in range(3):
        service.topup(account, 1000, "k%d" % day, now=T0 + timedelta(days=day), tiers=[])
    lines = service.statement(account, since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert [(line["key"], line["delta"], line["balance"]) for line in lines] == [("k1", 1000, 2000)]
    assert [line["balance"] for line in service.statement(tok(1))] == [1000, 2000, 3000]


def test_accounts_of_move_owner_and_low_balance(app):
    a, b = customer(1), customer(2)
    first = service.open_account(tok(1), a, now=T0)["id"]
    second = service.open_account(tok(2), b, now=T0 + timedelta(seconds=1))["id"]
    anonymous = service.open_account(tok(3), now=T0)["id"]
    service.topup(second, 10000, "k1", tiers=[])
    assert [x["id"] for x in service.low_balance()] == [first]  # anonymous cards have nobody to remind
    assert [x["id"] for x in service.low_balance([first, anonymous])] == [first] and service.low_balance([second]) == []
    assert service.move_owner(a, b, "cli:test") == 1
    assert [x["id"] for x in service.accounts_of(b)] == [first, second] and service.accounts_of(a) == []
    event = WalletEvent.get(WalletEvent.action == "owner")
    assert (event.account_id, event.other, event.actor) == (first, a, "cli:test")


@pytest.mark.parametrize("text,cur,minor", [("12.50", "CNY", 1250), ("12.5", "CNY", 1250), ("12", "CNY", 1200),
                                            ("1000", "JPY", 1000), ("1.234", "KWD", 1234), ("0.01", "USD", 1)])
def test_parse_amount_is_exact(text, cur, minor):
    assert service.parse_amount(text, cur) == minor


@pytest.mark.parametrize("text,cur,message", [("12.505", "CNY", "more decimals than CNY has: give at most 2"),
                                              ("12.5", "JPY", "more decimals than JPY has: give at most 0"),
                                              ("-1", "CNY", "digits"), ("1e3", "CNY", "digits"),
                                              ("0.00", "CNY", "above 0")])
def test_parse_amount_refuses(text, cur, message):
    with pytest.raises(WalletError, match=message):
        service.parse_amount(text, cur)
