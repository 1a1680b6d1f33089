"""Card life: freeze (挂失) at once, unfreeze, reissue carrying the balance, the hot list, forgetting on erasure."""

from datetime import datetime

import pytest
from peewee import fn

from server.loyalty.models import Customer
from server.wallet import WalletError, cards, pin, service
from server.wallet.models import WalletAccount, WalletEntry, WalletEvent

T0 = datetime(2025, 6, 1, 2, 0)


def tok(n):
    return "%064x" % (n * 7919 + 1)


def test_freeze_and_unfreeze_are_immediate_idempotent_and_recorded(app):
    account = service.open_account(tok(1), now=T0)["id"]
    out = cards.freeze(tok(1), "web:alice", "lost", now=T0)
    assert (out["state"], out["changed"], out["frozen_at"], out["frozen_by"]) == ("frozen", True,
                                                                                 "2025-06-01T02:00:00Z", "web:alice")
    assert cards.frozen_tokens() == [tok(1)]
    assert cards.freeze(account, "web:bob", "stolen")["changed"] is False
    with pytest.raises(WalletError, match="freeze reason 'lost my card': give one of lost, stolen"):
        cards.freeze(tok(1), "web:bob", "lost my card")
    out = cards.unfreeze(tok(1), "web:alice", "found")
    assert (out["state"], out["changed"], out["frozen_at"]) == ("active", True, None)
    assert cards.frozen_tokens() == [] and cards.unfreeze(tok(1), "web:alice", "found")["changed"] is False
    assert [(e.action, e.reason) for e in WalletEvent.select().order_by(WalletEvent.id)] == [
        ("open", None), ("freeze", "lost"), ("unfreeze", "found")]


def test_reissue_moves_balance_customer_and_pin_in_one_go(app):
    cust = Customer.create(id="C" + "B" * 16).id
    old = service.open_account(tok(1), cust, pin="4711", now=T0)["id"]
    service.topup(old, 12345, "k1", tiers=[])
    cards.freeze(tok(1), "web:alice", "lost")
    new = cards.reissue(tok(1), tok(2), "web:alice", bin="622848", last4="0042")
    assert (new["customer"], new["balance"], new["state"], new["pin"], new["last4"]) == (cust, 12345, "active", True,
                                                                                       "0042")
    assert pin.matches("4711", WalletAccount.get_by_id(new["id"]).pin_hash)
    row = WalletAccount.get_by_id(old)
    assert (row.state, row.replaced_by, row.balance) == ("replaced", new["id"], 0)
    transfers = WalletEntry.select().where(WalletEntry.kind.startswith("transfer"))
    moves = {e.kind: (e.account_id, e.delta) for e in transfers}
    assert moves == {"transfer_out": (old, -12345), "transfer_in": (new["id"], 12345)}
    assert cards.reissue(tok(1), tok(2), "web:alice") == new  # done already: nothing more
    with pytest.raises(WalletError, match="already reissued as %s" % new["id"]):
        cards.reissue(tok(1), tok(3), "web:alice")
    with pytest.raises(WalletError, match="cannot be unfrozen; its balance is on %s" % new["id"]):
        cards.unfreeze(tok(1), "web:alice", "found")
    assert cards.frozen_tokens() == [tok(1)]
    service.open_account(tok(4))
    with pytest.raises(WalletError, match="the new card already has account"):
        cards.reissue(tok(2), tok(4), "web:alice")
    total = WalletEntry.select(fn.SUM(WalletEntry.delta)).scalar()
    assert total == WalletAccount.select(fn.SUM(WalletAccount.balance)).scalar() == 12345


def test_forget_cards_unlinks_the_card_but_keeps_the_money(app):
    cust = Customer.create(id="C" + "D" * 16).id
    account = service.open_account(tok(1), cust, bin="622848", last4="0042")["id"]
    service.topup(account, 5000, "k1", tiers=[])
    assert cards.forget_cards([cust], "cli:root") == (1, {"CNY": 5000}, {tok(1)})
    row = WalletAccount.get_by_id(account)
    assert (row.state, row.balance, row.bin, row.last4, row.pin_hash) == ("closed", 5000, "", "", None)
    assert row.tok != tok(1) and WalletAccount.get_or_none(WalletAccount.tok == tok(1)) is None
