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
