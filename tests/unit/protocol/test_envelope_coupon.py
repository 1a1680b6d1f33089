"""The coupon check on the wire: an auth with op "coupon" (no PIN, no money) and an authr with the coupon's terms."""

import pytest

from protocol import envelope
from protocol.errors import ProtocolError

from envelope_bodies import w

TOK = "ab" * 32
CHECK = {"v": 1, "dev": "T1", "kind": "auth", "aid": 9, "ts": 1, "op": "coupon", "coupon": "PGBRF0C8P3C7",
         "nonce": "00" * 8}
SPEND = {"v": 1, "dev": "T1", "kind": "auth", "aid": 9, "ts": 1, "op": "svspend", "ref": "R", "tok": TOK,
         "bin": "622848", "last4": "1234", "amount": 100, "cur": "CNY", "nonce": "00" * 8}
VALID = {"v": 1, "dev": "T1", "kind": "authr", "aid": 9, "ok": True, "code": "APPROVED", "bal": 0, "cur": "CNY",
         "ckind": "amount_off", "value": 1000, "min": 0, "exp": 1798732800}


@pytest.mark.parametrize("body", [
    CHECK, w(CHECK, tok=TOK, bin="622848", last4="1234"), VALID, w(VALID, min=None),
    w(VALID, ok=False, code="USED", cur=None, ckind=None, value=None, min=None, exp=None),
])
def test_coupon_checks_and_answers_are_accepted(body):
    assert envelope.validate(dict(body), "T1") == body


@pytest.mark.parametrize("body, why", [
    (w(CHECK, coupon=None), "auth.coupon: missing (the code of the coupon to check)"),
    (w(CHECK, coupon="PGBR-F0C8-P3C"), "auth.coupon: must be 12 characters of 0-9 A-Z without I, L, O, U"),
    (w(CHECK, coupon="pgbrf0c8p3c7"), "auth.coupon: must be 12 characters"),
    (w(CHECK, coupon="PGBRF0C8P3CO"), "auth.coupon: must be 12 characters"),
    (w(CHECK, pin="0f" * 16), "auth.pin: a coupon check carries no pin"),
    (w(CHECK, amount=100), "auth.amount: a coupon check carries no amount"),
    (w(SPEND, coupon="PGBRF0C8P3C7"), "auth.coupon: only a coupon check (op coupon) names a coupon"),
    (w(SPEND, amount=None), "auth.amount: missing"),
    (w(SPEND, op="redeem", cur=None, last4=None), "auth.last4: missing"),
    (w(VALID, exp=None), "authr.exp: missing (a coupon's terms come together"),
    (w(VALID, value=-1), "authr.value: must be an integer >= 0"),
])
def test_bad_coupon_bodies_are_refused_naming_the_field(body, why):
    with pytest.raises(ProtocolError) as exc:
        envelope.validate(body, "T1")
    assert exc.value.reason == "bad_field" and exc.value.detail.startswith(why)


def test_a_coupon_check_is_built_in_the_order_given():
    body = envelope.build("auth", "T1", [("aid", 9), ("ts", 1), ("op", "coupon"), ("coupon", "PGBRF0C8P3C7"),
                                         ("nonce", "00" * 8)])
    assert body == (b'{"v":1,"dev":"T1","kind":"auth","aid":9,"ts":1,"op":"coupon","coupon":"PGBRF0C8P3C7",'
                    b'"nonce":"0000000000000000"}')
