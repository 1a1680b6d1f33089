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
