"""Stored value end to end: a real agent's POS spends authorised online by a real server over Mosquitto,
a PIN that travels sealed, a frozen card refused online and flagged when spent offline."""

import pytest

from realparts import wait_for

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"
PIN = "258013"


def test_topup_spend_freeze_and_an_offline_spend_on_a_frozen_card(system):
    server = system.server
    t1 = system.agent("T1", auth_timeout_ms=8000)  # a loaded CI machine must not turn online spends offline
    pos = t1.pos()
    t1.swipe(CARD)
    assert pos.request(op="svtopup", ref="TOP1", amount=100_00, cur="CNY")["stored"]
    status = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("id") == 1)
    assert (status["sv"], status["svcur"]) == (100_00, "CNY")  # an unknown member card opens an account
    (tok,) = wait_for(lambda: server.query("SELECT tok FROM walletaccount"), what="the wallet account")[0]
    server.cli("wallet", "pin-reset", tok, "--pin-stdin", input=PIN + "\n")

    t1.swipe_status(CARD, pos)  # every payment starts with the card
    wrong = pos.request(op="svspend", ref="S1", amount=30_00, pin="1111")
    assert (wrong["ok"], wrong.get("code")) == (False, "BAD_PIN"), wrong
    t1.swipe_status(CARD, pos)
    paid = pos.request(op="svspend", ref="S2", amount=30_00, pin=PIN)
    assert paid["ok"] and paid["stored"] and paid.get("bal") == 70_00 and not paid.get("offline"), paid
    assert b"70.00" in t1.read_display(b"70.00")
    t1.swipe_status(CARD, pos)
    short = pos.request(op="svspend", ref="S3", amount=500_00, pin=PIN)
    assert (short["ok"], short.get("code"), short.get("bal")) == (False, "INSUFFICIENT", 70_00), short

    # the server goes away, then the card is reported lost (挂失; the CLI needs no broker): the terminal,
    # not told of the freeze while the server is down, takes a small spend offline
    t1.swipe_status(CARD, pos)
    server.stop()
    server.cli("wallet", "freeze", tok, "--reason", "lost")
    offline = pos.request(op="svspend", ref="S5", amount=15_00)
    assert offline["ok"] and offline["stored"] and offline.get("offline"), offline
    server.start()
    flagged = wait_for(lambda: server.query("SELECT delta, flag, offline FROM walletentry WHERE flag IS NOT NULL"),
                       what="the offline spend booked on return")
    assert flagged == [(-15_00, "frozen", 1)]
    t1.swipe_status(CARD, pos)  # online, the frozen card is refused by the server
    frozen = pos.request(op="svspend", ref="S4", amount=10_00, pin=PIN)
    assert (frozen["ok"], frozen.get("code")) == (False, "FROZEN"), frozen
    # every balance is the sum of its ledger, and nothing PIN-like reached the server's database
    assert server.query("SELECT balance FROM walletaccount") == [(55_00,)]
    assert server.query("SELECT SUM(delta) FROM walletentry") == [(55_00,)]
    with open(server.db_path, "rb") as f:
        assert PIN.encode() not in f.read()
    pos.close()
