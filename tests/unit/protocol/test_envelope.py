"""protocol/envelope.py: the issue-5 kinds and fields (redemption, basket lines, stored value,
online authorisation), each good shape accepted and each bad one refused with its reason."""

import json

import pytest

from protocol import envelope, frame, topics
from protocol.errors import ProtocolError

from envelope_bodies import detail, w

TOK = "ab" * 32
SALE = {"v": 1, "dev": "T1", "kind": "sale", "seq": 1, "ts": 1, "ref": "R", "amount": 100, "cur": "CNY"}
LINE = {"sku": "SKU-1", "cat": "food", "amt": 100, "qty": 1}
SV = {"v": 1, "dev": "T1", "kind": "svspend", "seq": 1, "ts": 1, "ref": "R", "amount": 100, "cur": "CNY", "tok": TOK,
      "bin": "622202", "last4": "1234"}
AUTH = {"v": 1, "dev": "T1", "kind": "auth", "aid": 9, "ts": 1, "op": "svspend", "ref": "R", "tok": TOK,
        "bin": "622202", "last4": "1234", "amount": 100, "cur": "CNY", "pin": "0f" * 16, "nonce": "00" * 8}
AUTHR = {"v": 1, "dev": "T1", "kind": "authr", "aid": 9, "ok": True, "code": "APPROVED", "bal": 900, "cur": "CNY"}
STATUS = {"v": 1, "dev": "T1", "kind": "status", "for": "sid", "id": 1, "cust": "C1", "pts": 5, "sv": 100,
          "svcur": "CNY", "cpn": 2, "low": True}


@pytest.mark.parametrize("body", [
    w(SALE, redeem=500, auth=4503599627370497, coupon="CPN-1", lines=[LINE, w(LINE, cat="", amt=0, qty=0)]),
    w(SALE, lines=[]), w(SALE, lines=[LINE] * 30), w(SALE, coupon="x" * 40), w(SALE, redeem=0, auth=0),
    SV, w(SV, auth=5), w(SV, tried=5), w(SV, bin=None, last4=None), w(SV, kind="svtopup"),
    w(SV, kind="svrefund", orig="R0"), w(SV, amount=0),
    AUTH, w(AUTH, pin=None), w(AUTH, op="redeem", cur=None, pin=None),
    AUTHR, w(AUTHR, cur=None), w(AUTHR, ok=False, code="BAD_PIN", bal=0), w(AUTHR, ok=False, code="X_9", bal=-5),
    STATUS, w(STATUS, sv=-250, low=False), w(STATUS, sv=None, svcur=None),
])
def test_good_bodies_are_accepted(body):
    assert envelope.validate(json.loads(json.dumps(body)), "T1") == body


@pytest.mark.parametrize("body, want", [
    (w(SALE, redeem=5), "sale.auth: missing (redeemed points need the id of their online approval)"),
    (w(SALE, auth=5), "sale.redeem: missing (an auth id only comes with redeemed points)"),
    (w(SALE, redeem=1.5, auth=1), "sale.redeem: must be an integer >= 0"),
    (w(SALE, redeem=True, auth=1), "sale.redeem: must be an integer >= 0"),
    (w(SALE, redeem=1, auth=-1), "sale.auth: must be an integer >= 0"),
    (w(SALE, coupon=""), "sale.coupon: must be a string of 1-40 characters"),
    (w(SALE, coupon=7), "sale.coupon: must be a string of 1-40 characters"),
    (w(SALE, lines="SKU-1"), "sale.lines: must be a list of at most 30 lines"),
    (w(SALE, lines=[LINE] * 31), "sale.lines: must be a list of at most 30 lines"),
    (w(SALE, lines=[None]), "sale.lines[0]: must be an object with sku, cat, amt and qty"),
    (w(SALE, lines=[LINE, w(LINE, price=1, zz=2)]), "sale.lines[1].price: unknown field (expected sku, cat, amt, qty)"),
    (w(SALE, lines=[w(LINE, sku=None)]), "sale.lines[0].sku: missing"),
    (w(SALE, lines=[w(LINE, sku="s" * 41)]), "sale.lines[0].sku: must be a string of 1-40 characters"),
    (w(SALE, lines=[w(LINE, cat=5)]), "sale.lines[0].cat: must be a string of at most 40 characters"),
    (w(SALE, lines=[w(LINE, amt="1")]), "sale.lines[0].amt: must be an integer >= 0"),
    (w(SALE, lines=[LINE, w(LINE, qty=1.0)]), "sale.lines[1].qty: must be an integer >= 0"),
    (w(SV, tok=None), "svspend.tok: missing"),
    (w(SV, kind="svtopup", tok=None), "svtopup.tok: missing"),
    (w(SV, kind="svrefund"), "svrefund.orig: missing"),
    (w(SV, kind="svrefund", orig=""), "svrefund.orig: must be a string of 1-40 characters"),
    (w(SV, auth="9"), "svspend.auth: must be an integer >= 0"),
    (w(SV, tried=-1), "svspend.tried: must be an integer >= 0"),
    (w(SV, auth=1, tried=2), "svspend.tried: only an offline spend (one without auth) names an unanswered authorisation"),
    (w(SV, last4="12345"), "svspend.last4: must be 4 digits"),
    (w(AUTH, aid=None), "auth.aid: missing"),
    (w(AUTH, aid=1 << 53), "auth.aid: must be an integer >= 0"),
    (w(AUTH, op="svtopup"), "auth.op: must be svspend, redeem or coupon"),
    (w(AUTH, op=["svspend"]), "auth.op: must be svspend, redeem or coupon"),
    (w(AUTH, ref=None), "auth.ref: missing"),
    (w(AUTH, tok=None), "auth.tok: missing"),
    (w(AUTH, bin=None), "auth.bin: missing"),
    (w(AUTH, amount=-1), "auth.amount: must be an integer >= 0"),
    (w(AUTH, cur=None), "auth.cur: missing (a stored-value spend is money)"),
    (w(AUTH, cur="rmb"), "auth.cur: must be an ISO 4217 code such as CNY"),
    (w(AUTH, pin="0F" * 16), "auth.pin: must be 32 lowercase hex digits"),
    (w(AUTH, pin="0f" * 17), "auth.pin: must be 32 lowercase hex digits"),
    (w(AUTH, nonce=None), "auth.nonce: missing"),
    (w(AUTH, nonce="00" * 7), "auth.nonce: must be 16 lowercase hex digits"),
    (w(AUTHR, ok=None), "authr.ok: missing"),
    (w(AUTHR, ok=1), "authr.ok: must be true or false"),
    (w(AUTHR, code=""), "authr.code: must be a code of 1-16 characters A-Z 0-9 _"),
    (w(AUTHR, ok=False, code="Bad pin"), "authr.code: must be a code of 1-16 characters A-Z 0-9 _"),
    (w(AUTHR, code="FROZEN"), "authr.code: must be APPROVED exactly when ok is true"),
    (w(AUTHR, ok=False), "authr.code: must be APPROVED exactly when ok is true"),
    (w(AUTHR, bal="900"), "authr.bal: must be an integer"),
    (w(AUTHR, cur="CN"), "authr.cur: must be an ISO 4217 code such as CNY"),
    (w(STATUS, svcur=None), "status.svcur: missing (the currency of the stored-value balance sv)"),
    (w(STATUS, sv=1.0), "status.sv: must be an integer"),
    (w(STATUS, cpn=-1), "status.cpn: must be an integer >= 0"),
    (w(STATUS, low="no"), "status.low: must be true or false"),
])
def test_bad_fields_are_refused_with_their_reason(body, want):
    assert detail(body) == want


def test_tx_kinds_are_the_kinds_acked_by_seq_all_on_up_tx():
    assert envelope.TX_KINDS == ("sale", "refund", "void", "svspend", "svtopup", "svrefund")
    for kind in envelope.TX_KINDS:
        assert envelope.TOPIC_OF[kind] == "up/tx"
        assert ("seq", "uint", True) in envelope.KINDS[kind]
    assert set(envelope.SV_KINDS) < set(envelope.TX_KINDS)


def test_every_kind_has_a_topic_the_broker_acl_covers():
    assert set(envelope.TOPIC_OF) == set(envelope.KINDS)
    for kind, suffix in envelope.TOPIC_OF.items():
        if suffix.startswith("up/"):
            assert suffix in topics.UP  # ACL: pattern write pos/%u/up/#
        else:
            assert suffix.startswith("down/") and suffix in topics.DOWN  # ACL: pattern read pos/%u/down/#
    assert topics.topic("T1", "up/auth") == "pos/T1/up/auth" and topics.UP["up/auth"] == 1
    assert topics.parse("pos/T1/down/auth") == ("T1", "down/auth") and topics.DOWN["down/auth"] == 1


def test_build_writes_fields_in_the_given_order():
    body = envelope.build("authr", "T1", [("aid", 9), ("ok", False), ("code", "INSUFFICIENT"), ("bal", 120)])
    assert body == b'{"v":1,"dev":"T1","kind":"authr","aid":9,"ok":false,"code":"INSUFFICIENT","bal":120}'


def test_a_body_too_long_for_one_frame_is_refused_before_it_is_stored():
    wide = {"sku": "\u5546" * 40, "cat": "\u54c1" * 40, "amt": 1, "qty": 1}
    pairs = [("seq", 1), ("ts", 1), ("ref", "R"), ("amount", 1), ("cur", "CNY"), ("lines", [wide] * 30)]
    with pytest.raises(ProtocolError) as e:
        envelope.build("sale", "T1", pairs)
    assert e.value.reason == "oversize" and "does not fit in a frame" in e.value.detail
    # A full basket as tills send it (30 lines, 16-character SKUs) fits, with card and acquirer.
    acq = {"inst": "48021000", "lic": "Z2000133000019", "mid": "102100058120001", "tid": "10000001",
           "settle": "Z2000133000019"}
    basket = [{"sku": "6901234567%06d" % i, "cat": "grocery", "amt": 999999, "qty": 99} for i in range(30)]
    body = envelope.build("sale", "T1", [("seq", 1 << 40), ("ts", 1700000000), ("ref", "r" * 40), ("amount", 1 << 40),
                                         ("cur", "CNY"), ("tok", TOK), ("bin", "622202"), ("last4", "1234"),
                                         ("acq", acq), ("redeem", 100000), ("auth", (1 << 53) - 1),
                                         ("coupon", "c" * 40), ("lines", basket)])
    assert len(frame.sign("pos/T1/up/tx", body, b"k")) <= frame.MAX_FRAME
