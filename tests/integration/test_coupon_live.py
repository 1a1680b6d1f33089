"""Coupons end to end: a real agent's POS checks coupons live with a real server over Mosquitto; a sale
naming a coupon already used is booked and flagged; refunding the whole sale gives the coupon back."""

import json

import pytest

from realparts import wait_for

pytestmark = pytest.mark.integration

CARD = b";6228480000000015=28121010000000000000?\r\n"


def used_by(server, code):
    return server.query("SELECT used_dev, used_seq FROM coupon WHERE code = ?", code.replace("-", ""))[0]


def test_check_use_flag_and_give_back(system):
    server = system.server
    t1 = system.agent("T1", auth_timeout_ms=8000)  # a loaded CI machine must not turn checks OFFLINE
    pos = t1.pos()
    t1.swipe_status(CARD, pos)
    assert pos.request(op="sale", ref="R0", amount=10_00)["stored"]  # the card's customer is enrolled
    (customer,) = wait_for(lambda: server.query("SELECT customer FROM card"), what="the card's customer")[0]
    voucher = server.cli("coupon", "issue", "--kind", "amount_off", "--value", "10.00", "--min-spend", "50.00",
                         "--expires", "2099-01-31").stdout.split()[0]
    theirs = server.cli("coupon", "issue", "--customer", customer, "--kind", "percent_off", "--value", "15",
                        "--expires", "2099-01-31").stdout.split()[0]

    valid = pos.request(op="coupon", code=voucher.lower())
    assert {k: valid.get(k) for k in ("ok", "outcome", "coupon", "kind", "value", "cur", "min_spend", "expires")} == {
        "ok": True, "outcome": "VALID", "coupon": voucher, "kind": "amount_off", "value": 10_00, "cur": "CNY",
        "min_spend": 50_00, "expires": "2099-01-31T16:00:00Z"}, valid
    assert b"10.00 off" in t1.read_display(b"10.00 off")
    assert pos.request(op="coupon", code=theirs)["outcome"] == "CARD_NEEDED"  # no card swiped yet
    t1.swipe_status(CARD, pos)
    assert pos.request(op="coupon", code=theirs)["outcome"] == "VALID"
    typo = voucher[:-1] + ("0" if voucher[-1] != "0" else "1")
    assert pos.request(op="coupon", code=typo)["outcome"] == "UNKNOWN"

    # the checks used nothing; the sale naming the voucher does
    assert used_by(server, voucher) == (None, None)
    seq = pos.request(op="sale", ref="R1", amount=80_00, coupon=voucher)["seq"]
    assert wait_for(lambda: used_by(server, voucher)[0], what="the voucher used by the sale") == "T1"
    assert pos.request(op="coupon", code=voucher)["outcome"] == "USED"
    # a second sale names it all the same (as an offline one would): booked, and flagged
    again = pos.request(op="sale", ref="R2", amount=60_00, coupon=voucher)["seq"]
    flags = wait_for(lambda: json.loads(server.cli("coupon", "flags", "--json").stdout), what="the coupon flag")
    assert [(f["dev"], f["seq"], f["ref"], f["outcome"]) for f in flags] == [("T1", again, "R2", "USED")]
    assert used_by(server, voucher) == ("T1", seq)

    # refunding part of the sale keeps the voucher used; refunding the rest gives it back
    assert pos.request(op="refund", ref="F1", orig="R1", amount=30_00)["stored"]
    wait_for(lambda: server.query("SELECT 1 FROM record WHERE ref = 'F1'"), what="the first refund")
    assert used_by(server, voucher) == ("T1", seq)
    assert pos.request(op="refund", ref="F2", orig="R1", amount=50_00)["stored"]
    wait_for(lambda: used_by(server, voucher) == (None, None), what="the voucher given back")
    assert pos.request(op="coupon", code=voucher)["outcome"] == "VALID"
    pos.close()
