"""Online authorisations answered by ingest, and stored-value records routed to the wallet, not to points."""

import json

from protocol import envelope, pinblock
from server.ingest import authorise
from server.ingest.answers import authr_frame
from server.ingest.apply import apply_batch
from server.loyalty.models import PointsEntry
from server.wallet import service
from server.wallet.models import WalletEntry

PIN = "246813"
NONCE = "00112233aabbccdd"


def request(mk, key, aid, amount, pin=None, op="svspend", n=1):
    obj = {"v": 1, "dev": "T1", "kind": "auth", "aid": aid, "ts": 1700000000, "op": op, "ref": "S%d" % aid,
           "tok": mk.tok(n), "bin": "622848", "last4": "1234", "amount": amount, "cur": "CNY", "nonce": NONCE}
    if pin is not None:
        obj["pin"] = pinblock.seal_pin(key, "T1", aid, NONCE, pin)
    return envelope.validate(obj, "T1")


def test_a_sealed_pin_is_opened_with_the_device_key_and_checked(app, add, mk):
    key = add("T1")
    account = service.open_account(mk.tok(1), None, pin=PIN)["id"]
    service.topup(account, 50_00, "top", tiers=[])
    assert authorise.answer("T1", request(mk, key, 1, 12_00, PIN), key) == {
        "aid": 1, "ok": True, "code": "APPROVED", "bal": 38_00, "cur": "CNY"}
    wrong = authorise.answer("T1", request(mk, key, 2, 12_00, "999999"), key)
    assert (wrong["ok"], wrong["code"], wrong["bal"]) == (False, "BAD_PIN", 0)
    forged = authorise.answer("T1", request(mk, b"\x01" * 32, 3, 12_00, PIN), key)  # sealed under another key
    assert forged["code"] == "BAD_PIN"
    assert service.statement(account)[-1]["delta"] == -12_00 and len(service.statement(account)) == 2


def test_answers_are_valid_authr_frames(app, add, mk):
    key = add("T1")
    for obj in (request(mk, key, 7, 500), request(mk, key, 8, 100, op="redeem")):
        topic, payload = authr_frame("T1", key, authorise.answer("T1", obj, key))
        body = envelope.validate(json.loads(payload.split(b"\n")[0]), "T1")
        assert topic == "pos/T1/down/auth" and body["code"] == "UNKNOWN_CARD" and body["ok"] is False
        assert ("cur" in body) == (obj["op"] == "svspend")  # money for a spend, points for a redemption


def test_a_stored_value_spend_books_the_wallet_and_earns_no_points(app, add, mk):
    add("T1")
    account = service.open_account(mk.tok(1), None)["id"]
    service.topup(account, 50_00, "top", tiers=[])
    spend = [("seq", 1), ("ts", 1700000000), ("ref", "S1"), ("amount", 20_00), ("cur", "CNY"),
             ("tok", mk.tok(1)), ("bin", "622848"), ("last4", "1234")]
    result = apply_batch([mk.record("T1", spend, kind="svspend")])
    assert result.applied == [("T1", 1)]
    [(dev, for_, seq, status)] = result.statuses
    assert (status["sv"], status["svcur"], status["earned"]) == (30_00, "CNY", 0)
    assert PointsEntry.select().count() == 0
    assert [(e.delta, e.offline, e.flag) for e in WalletEntry.select().order_by(WalletEntry.id)] == [
        (50_00, False, None), (-20_00, True, None)]


def coupon_check(code, aid=20, tok=None):
    obj = {"v": 1, "dev": "T1", "kind": "auth", "aid": aid, "ts": 1700000000, "op": "coupon", "coupon": code,
           "nonce": NONCE}
    if tok:
        obj.update(tok=tok, bin="622848", last4="1234")
    return envelope.validate(obj, "T1")


def test_a_coupon_check_answers_its_terms_or_why_not_and_uses_nothing(app, add, mk):
    from datetime import datetime

    from server.campaigns import coupons
    from server.campaigns.models import Coupon
    from server.loyalty.models import Card, Customer

    key = add("T1")
    Customer.create(id="CALICE0000000000A")
    Card.create(tok=mk.tok(1), customer="CALICE0000000000A")
    end = datetime(2099, 1, 31, 16, 0)
    bearer = coupons.issue(None, "percent_off", 150, "CNY", end, "", "k1", "cli:t", min_spend=50_00)
    alices = coupons.issue("CALICE0000000000A", "amount_off", 10_00, "CNY", end, "", "k2", "cli:t")
    valid = authorise.answer("T1", coupon_check(bearer), key)
    assert valid == {"aid": 20, "ok": True, "code": "APPROVED", "bal": 0, "cur": "CNY", "ckind": "percent_off",
                     "value": 150, "min": 50_00, "exp": 4073558400}
    assert authorise.answer("T1", coupon_check(alices, 21, mk.tok(1)), key)["ckind"] == "amount_off"
    for tok, code in ((mk.tok(2), "NOT_YOURS"), (None, "CARD_NEEDED")):
        assert authorise.answer("T1", coupon_check(alices, 22, tok), key) == {"aid": 22, "ok": False, "code": code,
                                                                             "bal": 0}
    coupons.void(alices, "cli:t")
    assert authorise.answer("T1", coupon_check(alices, 23, mk.tok(1)), key)["code"] == "VOID"
    assert authorise.answer("T1", coupon_check("0" * 12, 24), key)["code"] == "UNKNOWN"
    assert Coupon.select().where(Coupon.used_at.is_null(False)).count() == 0
    for answer in (valid, authorise.answer("T1", coupon_check(alices, 25), key)):
        body = envelope.validate(json.loads(authr_frame("T1", key, answer)[1].split(b"\n")[0]), "T1")
        assert dict(body, v=None, dev=None, kind=None) == dict(answer, v=None, dev=None, kind=None)  # terms and all
