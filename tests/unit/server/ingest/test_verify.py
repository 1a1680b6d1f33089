"""verify(): every reason a frame from the broker is refused, and what a good one yields."""

import pytest

from protocol import frame
from protocol.errors import ProtocolError
from server.fleet import devices
from server.ingest.keycache import DeviceKeys
from server.ingest.verify import body_of, verify, verify_state

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
DEVICES = {"T1": KEY, "T9": None}


def reason(topic, payload, devs=DEVICES):
    with pytest.raises(ProtocolError) as exc:
        verify(topic, payload, devs)
    return exc.value.reason


def raw(topic, pairs, key=KEY):
    return frame.sign(topic, frame.dumps(pairs), key)


def head(dev="T1", kind="sale", v=1):
    return [("v", v), ("dev", dev), ("kind", kind)]


def test_good_sale_yields_device_and_body(mk):
    topic, payload = mk.signed("T1", KEY, "up/tx", "sale", mk.sale(7, tok=mk.tok(1)))
    dev, obj = verify(topic, payload, DEVICES)
    assert dev == "T1" and obj["seq"] == 7 and obj["amount"] == 1250 and obj["tok"] == mk.tok(1)
    assert body_of(payload) == frame.split(payload)[0]


@pytest.mark.parametrize("topic", ["pos/T1/down/ack", "pos/T1/up/other", "foo/T1/up/tx", "pos/T 1/up/tx", "pos/T1/state"])
def test_bad_topic(mk, topic):
    assert reason(topic, mk.signed("T1", KEY, "up/tx", "sale", mk.sale(1))[1]) == "bad_topic"


def test_oversize(mk):
    payload = b"x" * (frame.MAX_FRAME + 1)
    assert reason("pos/T1/up/tx", payload) == "oversize"


@pytest.mark.parametrize("payload", [b"", b"{}", b"{}\n" + b"0" * 63, b"{}" + b"0" * 65])
def test_malformed_frame(payload):
    assert reason("pos/T1/up/tx", payload) == "malformed"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe{}"])
def test_malformed_body_under_a_good_mac(body):
    assert reason("pos/T1/up/tx", frame.sign("pos/T1/up/tx", body, KEY)) == "malformed"


def test_bad_mac_other_key(mk):
    topic, payload = mk.signed("T1", OTHER, "up/tx", "sale", mk.sale(1))
    assert reason(topic, payload) == "bad_mac"


def test_bad_mac_tampered_amount(mk):
    topic, payload = mk.signed("T1", KEY, "up/tx", "sale", mk.sale(1, amount=1250))
    assert reason(topic, payload.replace(b'"amount":1250', b'"amount":9250')) == "bad_mac"


def test_bad_mac_when_replayed_on_another_topic(mk):
    topic, payload = mk.signed("T1", KEY, "up/tx", "sale", mk.sale(1))
    assert reason("pos/T1/up/swipe", payload) == "bad_mac"


def test_wrong_device_body_names_another_terminal(mk):
    payload = raw("pos/T1/up/tx", head(dev="T2") + mk.sale(1))
    assert reason("pos/T1/up/tx", payload) == "wrong_device"


def test_unknown_and_revoked_device(mk):
    assert reason(*mk.signed("T5", KEY, "up/tx", "sale", mk.sale(1))) == "unknown_device"
    assert reason(*mk.signed("T9", KEY, "up/tx", "sale", mk.sale(1))) == "revoked_device"


def test_bad_version(mk):
    assert reason("pos/T1/up/tx", raw("pos/T1/up/tx", head(v=2) + mk.sale(1))) == "bad_version"


def test_bad_kind_unknown_and_on_the_wrong_topic(mk):
    assert reason("pos/T1/up/tx", raw("pos/T1/up/tx", head(kind="bonus") + mk.sale(1))) == "bad_kind"
    assert reason(*mk.signed("T1", KEY, "up/swipe", "sale", mk.sale(1))) == "bad_kind"
    ack = raw("pos/T1/up/tx", head(kind="ack") + [("upto", 1), ("also", [])])
    assert reason("pos/T1/up/tx", ack) == "bad_kind"


def test_bad_field(mk):
    pairs = [("seq", 1), ("ts", 1), ("ref", "R1"), ("amount", "12.50"), ("cur", "CNY")]
    assert reason("pos/T1/up/tx", raw("pos/T1/up/tx", head() + pairs)) == "bad_field"


def test_refund_without_orig_is_bad_field(mk):
    topic, payload = mk.signed("T1", KEY, "up/tx", "refund", mk.sale(2))
    assert reason(topic, payload) == "bad_field"
    assert verify(*mk.signed("T1", KEY, "up/tx", "refund", mk.sale(3, orig="R1")), DEVICES)[1]["orig"] == "R1"


def test_registry_backed_devices(app, master, mk):
    """With the real Device table: unknown until added, refused once revoked."""
    keys = DeviceKeys(master, miss_s=0)
    topic, _ = mk.signed("T1", KEY, "up/tx", "sale", mk.sale(1))
    assert reason(topic, mk.signed("T1", KEY, "up/tx", "sale", mk.sale(1))[1], keys) == "unknown_device"
    key = devices.add_device("T1", master)[1]
    payload = mk.signed("T1", key, "up/tx", "sale", mk.sale(1))[1]
    assert verify(topic, payload, keys)[0] == "T1"
    devices.revoke_device("T1")
    keys.refresh()
    assert reason(topic, payload, keys) == "revoked_device"


def test_state_messages():
    assert verify_state("pos/T1/state", b"online", DEVICES) == ("T1", "online")
    assert verify_state("pos/T1/state", b"offline", DEVICES) == ("T1", "offline")
    for topic, payload, why in [("pos/T1/state", b"up", "malformed"), ("pos/T5/state", b"online", "unknown_device"),
                                ("pos/T1/up/hb", b"online", "bad_topic")]:
        with pytest.raises(ProtocolError) as exc:
            verify_state(topic, payload, DEVICES)
        assert exc.value.reason == why
