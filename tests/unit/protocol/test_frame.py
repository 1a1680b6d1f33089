import hashlib
import hmac
import json

import pytest

from protocol import envelope, frame, mac, topics
from protocol.errors import ProtocolError

KEY = bytes(range(32))


@pytest.fixture(params=["fast", "pure"])
def mac_path(request, monkeypatch):
    """Both ways protocol.mac computes: CPython's C hmac, and the hashlib-only path devices run."""
    if request.param == "pure":
        monkeypatch.setattr(mac, "_fast", None)
        monkeypatch.setattr(mac, "_fast_equal", None)
    return request.param


def test_mac_matches_stdlib_hmac_for_short_and_long_keys(mac_path):
    for key in (b"", b"k", KEY, b"x" * 64, b"y" * 65, b"z" * 200):
        for msg in (b"", b"abc", b"\x00" * 1000):
            assert mac.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_equal_is_exact(mac_path):
    assert mac.equal(b"abc", b"abc")
    assert not mac.equal(b"abc", b"abd")
    assert not mac.equal(b"abc", b"ab")


def test_sign_then_verify_round_trip_and_covers_topic():
    t = topics.topic("T1", "up/tx")
    body = envelope.build("sale", "T1", [("seq", 1), ("ts", 100), ("ref", "R1"), ("amount", 1250), ("cur", "CNY")])
    f = frame.sign(t, body, KEY)
    assert f.count(b"\n") == 1 and len(f.split(b"\n")[1]) == 64
    assert frame.verify(t, f, KEY) == body
    with pytest.raises(ProtocolError) as e:
        frame.verify(topics.topic("T2", "up/tx"), f, KEY)
    assert e.value.reason == "bad_mac"
    with pytest.raises(ProtocolError) as e:
        frame.verify(t, f, b"other key")
    assert e.value.reason == "bad_mac"


def test_body_bytes_are_fixed_order_compact_json():
    body = envelope.build("ack", "T1", [("upto", 5), ("also", [7, 9])])
    assert body == b'{"v":1,"dev":"T1","kind":"ack","upto":5,"also":[7,9]}'


def test_tampered_body_fails_mac():
    t = topics.topic("T1", "up/tx")
    f = frame.sign(t, b'{"a":1}', KEY)
    with pytest.raises(ProtocolError) as e:
        frame.verify(t, f.replace(b"1", b"2", 1), KEY)
    assert e.value.reason == "bad_mac"


@pytest.mark.parametrize("raw, reason", [
    (b"x" * (frame.MAX_FRAME + 1), "oversize"),
    (b"no mac here", "malformed"),
    (b"{}" + b"\n" + b"0" * 63, "malformed"),
    ("text", "malformed"),
])
def test_split_rejects(raw, reason):
    with pytest.raises(ProtocolError) as e:
        frame.split(raw)
    assert e.value.reason == reason


@pytest.mark.parametrize("body, reason, where", [
    ({"v": 2, "dev": "T1", "kind": "ack", "upto": 1, "also": []}, "bad_version", "version 2"),
    ({"v": 1, "dev": "T9", "kind": "ack", "upto": 1, "also": []}, "wrong_device", "T9"),
    ({"v": 1, "dev": "T1", "kind": "nope"}, "bad_kind", "nope"),
    ({"v": 1, "dev": "T1", "kind": "ack", "also": []}, "bad_field", "ack.upto: missing"),
    ({"v": 1, "dev": "T1", "kind": "sale", "seq": 1, "ts": 1, "ref": "R", "amount": 1.5, "cur": "CNY"},
     "bad_field", "sale.amount"),
    ({"v": 1, "dev": "T1", "kind": "sale", "seq": 1, "ts": 1, "ref": "R", "amount": 1, "cur": "cny"},
     "bad_field", "sale.cur"),
    ({"v": 1, "dev": "T1", "kind": "sale", "seq": True, "ts": 1, "ref": "R", "amount": 1, "cur": "CNY"},
     "bad_field", "sale.seq"),
])
def test_validate_names_the_problem(body, reason, where):
    with pytest.raises(ProtocolError) as e:
        envelope.validate(body, "T1")
    assert e.value.reason == reason
    assert where in str(e.value)


@pytest.mark.parametrize("raw", [b"{", b"[1,2]", b"\xff\xfe", b"null"])
def test_loads_maps_bad_json_to_malformed(raw):
    with pytest.raises(ProtocolError) as e:
        frame.loads(raw)
    assert e.value.reason == "malformed"


def test_topics_build_and_parse():
    assert topics.topic("T-1_a", "down/status") == "pos/T-1_a/down/status"
    assert topics.parse("pos/T1/up/swipe") == ("T1", "up/swipe")
    for bad in ("pos/T1/up/other", "pos//up/tx", "x/T1/up/tx", "pos/T+1/up/tx", "pos/T1"):
        with pytest.raises(ProtocolError) as e:
            topics.parse(bad)
        assert e.value.reason == "bad_topic"
    with pytest.raises(ProtocolError):
        topics.topic("a/b", "up/tx")
    with pytest.raises(ProtocolError):
        topics.topic("T1", "up/nope")
