"""agent/linux/mqtt.py without a broker: every down frame is verified, bad ones dropped and counted."""

import logging

import paho.mqtt.client as paho
import pytest

from agent.linux import config
from agent.linux.mqtt import Session
from agent_testkit import make_config
from protocol import envelope, frame
from protocol.errors import ProtocolError

ACK = envelope.build("ack", "T1", [("upto", 3), ("also", [5])])


@pytest.fixture
def session(tmp_path):
    _, raw = make_config(tmp_path, 1883)
    events = []
    s = Session(config.check(raw), lambda kind, obj: events.append((kind, obj)))
    s.events = events
    return s


def message(topic, payload):
    m = paho.MQTTMessage(topic=topic.encode())
    m.payload = payload
    return m


def deliver(s, topic, payload):
    s._on_message(s.client, None, message(topic, payload))


def test_good_signed_ack_is_delivered(session):
    t = "pos/T1/down/ack"
    deliver(session, t, frame.sign(t, ACK, session.key))
    assert session.events == [("ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 3, "also": [5]})]
    assert session.dropped == {}


@pytest.mark.parametrize("topic,payload,reason", [
    ("pos/T1/down/ack", lambda k: frame.sign("pos/T1/down/ack", ACK, b"another key"), "bad_mac"),
    ("pos/T1/down/ack", lambda k: frame.sign("pos/T1/down/status", ACK, k), "bad_mac"),
    ("pos/T1/down/ack", lambda k: ACK, "malformed"),
    ("pos/T1/down/ack", lambda k: b"x" * 5000, "oversize"),
    ("pos/T2/down/ack", lambda k: frame.sign("pos/T2/down/ack", ACK, k), "bad_topic"),
    ("pos/T1/down/status", lambda k: frame.sign("pos/T1/down/status", ACK, k), "bad_kind"),
    ("pos/T1/down/ack", lambda k: frame.sign("pos/T1/down/ack", ACK.replace(b'"T1"', b'"T2"'), k),
     "wrong_device"),
    ("pos/T1/down/ack", lambda k: frame.sign("pos/T1/down/ack", b'{"v":2,"dev":"T1","kind":"ack"}', k),
     "bad_version"),
])
def test_bad_down_frames_are_dropped_and_counted(session, topic, payload, reason):
    deliver(session, topic, payload(session.key))
    deliver(session, topic, payload(session.key))
    assert session.events == []
    assert session.dropped == {reason: 2}


def test_an_empty_config_the_server_clears_on_revocation_is_logged_not_dropped(session, caplog):
    with caplog.at_level(logging.WARNING, logger="possync.agent"):
        deliver(session, "pos/T1/down/config", b"")
        deliver(session, "pos/T1/down/ack", b"")  # only down/config is ever cleared
    assert session.events == [] and session.dropped == {"malformed": 1}
    assert "removed this terminal's config from the broker" in caplog.text


def test_verify_raises_protocol_errors(session):
    with pytest.raises(ProtocolError) as e:
        session.verify("pos/T1/up/tx", frame.sign("pos/T1/up/tx", ACK, session.key))
    assert e.value.reason == "bad_topic"


def test_publish_refuses_while_not_connected(session):
    assert session.publish("up/tx", ACK, 1) is False
