import json

import pytest

from agent.core import records
from protocol import envelope, frame
from protocol.errors import ProtocolError

CARD = {"tok": "ab" * 32, "bin": "622202", "last4": "1234", "exp": "2912", "svc": "101", "name": "X", "track": 2}


def bad(req, currency="CNY"):
    with pytest.raises(ProtocolError) as e:
        records.tx("T1", 1, 100, req, currency)
    assert e.value.reason == "bad_field"
    return e.value.detail


def test_sale_body_in_envelope_order_with_card():
    body = records.tx("T1", 7, 1700000000, {"op": "sale", "ref": "R1", "amount": 1250}, "CNY", CARD)
    assert body.startswith(b'{"v":1,"dev":"T1","kind":"sale","seq":7,"ts":1700000000,"ref":"R1","amount":1250,'
                           b'"cur":"CNY","tok":"' + CARD["tok"].encode() + b'","bin":"622202","last4":"1234"}')
    obj = envelope.validate(frame.loads(body), "T1")
    assert "exp" not in obj and "name" not in obj


def test_refund_and_void_carry_orig_after_the_card():
    body = records.tx("T1", 8, 5, {"op": "refund", "ref": "R2", "amount": 100, "cur": "USD", "orig": "R1"})
    obj = json.loads(body)
    assert obj["kind"] == "refund" and obj["orig"] == "R1" and obj["cur"] == "USD"
    assert list(obj)[-1] == "orig"


@pytest.mark.parametrize("req,field", [
    ({"op": "sale", "ref": "R1", "amount": 12.5}, "amount"),
    ({"op": "sale", "ref": "R1", "amount": "1250"}, "amount"),
    ({"op": "sale", "ref": "R1", "amount": True}, "amount"),
    ({"op": "sale", "ref": "R1", "amount": -1}, "amount"),
    ({"op": "sale", "ref": "R1"}, "amount"),
    ({"op": "sale", "ref": "", "amount": 1}, "ref"),
    ({"op": "sale", "ref": "x" * 41, "amount": 1}, "ref"),
    ({"op": "sale", "ref": "a\nb", "amount": 1}, "ref"),
    ({"op": "sale", "amount": 1}, "ref"),
    ({"op": "sale", "ref": "R1", "amount": 1, "cur": "cny"}, "cur"),
    ({"op": "sale", "ref": "R1", "amount": 1, "cur": "YUAN"}, "cur"),
    ({"op": "refund", "ref": "R1", "amount": 1}, "orig"),
    ({"op": "void", "ref": "R1", "amount": 1, "orig": 5}, "orig"),
    ({"op": "sale", "ref": "R1", "amount": 1, "orig": "R0"}, "orig"),
    ({"op": "topup", "ref": "R1", "amount": 1}, "op"),
])
def test_validation_errors_name_the_field(req, field):
    assert bad(req).startswith(field + ": ")


def test_amount_error_explains_minor_units():
    assert bad({"op": "sale", "ref": "R1", "amount": 12.5}) == \
        "amount: must be an integer number of minor units (e.g. 1250 for 12.50)"


def test_default_currency_comes_from_the_caller():
    obj = json.loads(records.tx("T1", 1, 1, {"op": "sale", "ref": "R", "amount": 1}, "EUR"))
    assert obj["cur"] == "EUR"


def test_swipe_and_heartbeat_bodies_validate():
    s = envelope.validate(frame.loads(records.swipe("T1", 3, 100, CARD)), "T1")
    assert (s["sid"], s["tok"], s["bin"], s["last4"]) == (3, CARD["tok"], "622202", "1234")
    assert "name" not in s
    h = envelope.validate(frame.loads(records.hb("T1", 1000, "0.1.0", 4, 940, 77, True)), "T1")
    assert (h["depth"], h["oldest"], h["up"], h["full"]) == (4, 60, 77, True)
    h = json.loads(records.hb("T1", 1000, "0.1.0", 0, None, 5, False))
    assert h["oldest"] == 0 and h["full"] is False


def test_last_swipe_keeps_only_tok_bin_last4_within_ttl_until_consumed():
    last = records.LastSwipe(ttl_s=120)
    assert last.peek(0) is None
    last.put(dict(CARD, pan="4111111111111111"), 1000)
    assert last.peek(1120) == {"tok": CARD["tok"], "bin": "622202", "last4": "1234"}
    assert last.peek(1121) is None  # expired
    assert last.peek(1000) is not None
    last.consume()
    assert last.peek(1001) is None


ACQ = {"inst": "48021000", "lic": "Z2000133000019", "mid": "102100058120001", "tid": "10000001",
       "settle": "Z2000133000019"}


def test_sale_acq_goes_into_the_body_after_the_card_with_sorted_keys():
    body = records.tx("T1", 7, 5, {"op": "sale", "ref": "R1", "amount": 1, "acq": ACQ}, "CNY", CARD)
    assert body.endswith(b'"last4":"1234","acq":{"inst":"48021000","lic":"Z2000133000019",'
                         b'"mid":"102100058120001","settle":"Z2000133000019","tid":"10000001"}}')
    assert envelope.validate(frame.loads(body), "T1")["acq"] == ACQ


def test_acq_content_is_the_servers_to_judge_not_the_terminals():
    # Ill-formed codes are still stored and sent: the server's verdict is MALFORMED, the sale goes on.
    odd = {"inst": "", "lic": "not a licence", "mid": "x" * 40, "tid": "收单"}
    assert json.loads(records.tx("T1", 1, 1, {"op": "sale", "ref": "R", "amount": 1, "acq": odd}))["acq"] == odd
    assert json.loads(records.tx("T1", 1, 1, {"op": "sale", "ref": "R", "amount": 1, "acq": {}}))["acq"] == {}


def test_refund_acq_follows_orig():
    req = {"op": "refund", "ref": "R2", "amount": 1, "orig": "R1", "acq": {"mid": "M"}}
    assert list(json.loads(records.tx("T1", 1, 1, req)))[-2:] == ["orig", "acq"]


@pytest.mark.parametrize("acq, message", [
    ("Z2000133000019", "acq: must be an object with string fields among inst, lic, mid, tid, settle"),
    ([ACQ], "acq: must be an object"),
    ({"mid": "M", "bank": "B"}, "acq.bank: unknown field (expected inst, lic, mid, tid or settle)"),
    ({"MID": "M"}, "acq.MID: unknown field"),
    ({"tid": 10000001}, "acq.tid: must be a string of at most 40 characters without control characters"),
    ({"inst": None}, "acq.inst: must be a string"),
    ({"settle": "x" * 41}, "acq.settle: must be a string of at most 40"),
    ({"lic": "Z20001330\n00019"}, "acq.lic: must be a string of at most 40 characters without control"),
    ({"mid": {"id": "M"}}, "acq.mid: must be a string"),
])
def test_bad_acq_shapes_are_refused_naming_the_key(acq, message):
    assert bad({"op": "sale", "ref": "R1", "amount": 1, "acq": acq}).startswith(message)
    with pytest.raises(ProtocolError) as e:  # the same check for a terminal default
        records.check_tx({"op": "sale", "ref": "R1", "amount": 1}, "CNY", acq)
    assert e.value.detail.startswith(message)


def test_pos_acq_null_is_refused_not_taken_as_the_default():
    assert bad({"op": "sale", "ref": "R1", "amount": 1, "acq": None}).startswith("acq: must be an object")


def test_terminal_default_acq_is_used_for_a_sale_without_one():
    default = {"mid": "102100058120001", "tid": "10000001"}
    sale = json.loads(records.tx("T1", 1, 1, {"op": "sale", "ref": "R", "amount": 1}, "CNY", None, default))
    assert sale["acq"] == default
    # The POS's own acq wins over the default, whole (no merging of keys).
    own = {"lic": "Z2000133000019"}
    sale = json.loads(records.tx("T1", 2, 1, {"op": "sale", "ref": "R", "amount": 1, "acq": own}, "CNY", None, default))
    assert sale["acq"] == own
    # Refunds and voids are not judged: the default is not added to them.
    refund = json.loads(records.tx("T1", 3, 1, {"op": "refund", "ref": "R2", "amount": 1, "orig": "R"},
                                   "CNY", None, default))
    assert "acq" not in refund
    assert "acq" not in json.loads(records.tx("T1", 4, 1, {"op": "sale", "ref": "R", "amount": 1}))


def test_check_acq_returns_a_copy():
    src = dict(ACQ)
    got = records.check_acq(src)
    src["mid"] = "changed"
    assert got == ACQ


# -- issue 5: redemption, coupons, basket lines, stored value, authorisation requests ----------

LINE = {"sku": "SKU-1", "cat": "food", "amt": 2500, "qty": 1}


def test_sale_with_redeem_coupon_and_lines_goes_into_the_body_after_acq():
    req = {"op": "sale", "ref": "R1", "amount": 2500, "redeem": 500, "auth": 77, "coupon": "CPN-1",
           "lines": [LINE, {"sku": "SKU-2", "cat": "", "amt": 0, "qty": 2}], "acq": {"mid": "M"}}
    body = records.tx("T1", 7, 5, req, "CNY", CARD)
    obj = envelope.validate(frame.loads(body), "T1")
    assert list(obj)[-5:] == ["acq", "redeem", "auth", "coupon", "lines"]
    assert (obj["redeem"], obj["auth"], obj["coupon"]) == (500, 77, "CPN-1")
    assert obj["lines"] == req["lines"]
    assert body.endswith(b'"lines":[{"amt":2500,"cat":"food","qty":1,"sku":"SKU-1"},'
                         b'{"amt":0,"cat":"","qty":2,"sku":"SKU-2"}]}')


@pytest.mark.parametrize("req, message", [
    ({"op": "sale", "ref": "R", "amount": 1, "redeem": 5},
     "auth: missing: redeemed points need the approval id the redeem op returned"),
    ({"op": "sale", "ref": "R", "amount": 1, "auth": 5}, "redeem: missing: an auth id comes with the points it approved"),
    ({"op": "sale", "ref": "R", "amount": 1, "redeem": 0, "auth": 5}, "redeem: must be an integer >= 1"),
    ({"op": "sale", "ref": "R", "amount": 1, "redeem": 5, "auth": "77"}, "auth: must be an integer >= 1"),
    ({"op": "sale", "ref": "R", "amount": 1, "coupon": ""}, "coupon: must be a string of 1-40 characters"),
    ({"op": "sale", "ref": "R", "amount": 1, "coupon": "C\n1"}, "coupon: must not hold control characters"),
    ({"op": "sale", "ref": "R", "amount": 1, "lines": {}}, "lines: must be a list of at most 30 lines"),
    ({"op": "sale", "ref": "R", "amount": 1, "lines": [LINE] * 31}, "lines: must be a list of at most 30 lines"),
    ({"op": "sale", "ref": "R", "amount": 1, "lines": [LINE, dict(LINE, amt=-1)]}, "lines[1].amt: must be an integer >= 0"),
    ({"op": "sale", "ref": "R", "amount": 1, "lines": [dict(LINE, price=1)]}, "lines[0].price: unknown field"),
    ({"op": "sale", "ref": "R", "amount": 1, "lines": [dict(LINE, sku="a\x1bb")]},
     "lines[0].sku: must not hold control characters"),
    ({"op": "refund", "ref": "R", "amount": 1, "orig": "R0", "coupon": "C"}, "coupon: only a sale carries coupon"),
    ({"op": "void", "ref": "R", "amount": 1, "orig": "R0", "redeem": 1, "auth": 1}, "redeem: only a sale carries redeem"),
    ({"op": "svspend", "ref": "R", "amount": 0}, "amount: must be at least 1 (minor units of stored value)"),
    ({"op": "svtopup", "ref": "R", "amount": 1.5}, "amount: must be an integer number of minor units"),
    ({"op": "svspend", "ref": "R", "amount": 1, "auth": 5},
     "auth: is set by the agent from the server's approval, not by the POS"),
    ({"op": "svtopup", "ref": "R", "amount": 1, "acq": {}}, "acq: stored-value records carry no acquirer metadata"),
    ({"op": "svspend", "ref": "R", "amount": 1, "lines": [LINE]}, "lines: only a sale carries lines"),
    ({"op": "svrefund", "ref": "R", "amount": 1}, "orig: missing: a svrefund needs the ref of the original svspend"),
    ({"op": "svspend", "ref": "R", "amount": 1, "orig": "R0"}, "orig: only a refund, void or svrefund refers"),
])
def test_new_fields_are_checked_naming_the_field(req, message):
    with pytest.raises(ProtocolError) as e:
        records.check_tx(req)
    assert e.value.reason == "bad_field" and e.value.detail.startswith(message)


def test_stored_value_records_need_the_card_and_carry_auth_or_tried():
    with pytest.raises(ProtocolError) as e:
        records.tx("T1", 1, 1, {"op": "svtopup", "ref": "T", "amount": 100})
    assert e.value.reason == "no_card"
    online = json.loads(records.tx("T1", 1, 1, {"op": "svspend", "ref": "S", "amount": 100}, "CNY", CARD, None, 9))
    assert (online["kind"], online["tok"], online["auth"]) == ("svspend", CARD["tok"], 9) and "tried" not in online
    late = json.loads(records.tx("T1", 2, 1, {"op": "svspend", "ref": "S", "amount": 100}, "CNY", CARD, None, None, 8))
    assert late["tried"] == 8 and "auth" not in late
    refund = records.tx("T1", 3, 1, {"op": "svrefund", "ref": "B", "amount": 100, "orig": "S"}, "CNY", CARD)
    assert refund.endswith(b'"last4":"1234","orig":"S"}')
    topup = json.loads(records.tx("T1", 4, 1, {"op": "svtopup", "ref": "T", "amount": 100, "pin": "1234"}, "CNY", CARD))
    assert "pin" not in topup and list(topup)[-3:] == ["tok", "bin", "last4"]


def test_pin_of_checks_without_echoing():
    assert records.pin_of({"pin": "012345"}) == "012345"
    assert records.pin_of({}) is None
    for pin in ("123", "1234567890123", "12a4", 1234, "１２３４"):
        with pytest.raises(ProtocolError) as e:
            records.pin_of({"pin": pin})
        assert e.value.detail == "pin: must be 4-12 digits as a string"


def test_auth_body_carries_the_sealed_pin_and_never_the_pin():
    from protocol import pinblock
    key = b"\x11" * 32
    body = records.auth("T1", key, 42, 100, "svspend", "S-1", CARD, 3550, "0011223344556677", "CNY", "735019")
    obj = envelope.validate(frame.loads(body), "T1")
    assert list(obj) == ["v", "dev", "kind", "aid", "ts", "op", "ref", "tok", "bin", "last4", "amount", "cur", "pin",
                         "nonce"]
    assert b"735019" not in body
    assert pinblock.open_pin(key, "T1", 42, "0011223344556677", obj["pin"]) == "735019"
    redeem = json.loads(records.auth("T1", key, 43, 100, "redeem", "S-2", CARD, 500, "ffffffffffffffff"))
    assert "cur" not in redeem and "pin" not in redeem and redeem["amount"] == 500


def test_check_redeem():
    assert records.check_redeem({"op": "redeem", "ref": "R", "points": 500}) == ("R", 500)
    for req, field in (({"ref": "R", "points": 0}, "points"), ({"ref": "R", "points": "5"}, "points"),
                       ({"points": 5}, "ref")):
        with pytest.raises(ProtocolError) as e:
            records.check_redeem(req)
        assert e.value.detail.startswith(field + ": ")
