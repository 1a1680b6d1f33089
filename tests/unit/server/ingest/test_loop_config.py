"""The ingest publishes the fleet config retained on each device's down/config (server/ingest/loop.py), and
answers.py writes config frames and status tags that the terminal's envelope accepts."""

from types import SimpleNamespace

import pytest

from protocol import envelope, frame
from server.fleet import pushconfig
from server.ingest import answers
from server.ingest.keycache import DeviceKeys
from server.ingest.loop import IngestLoop
from server.wallet import WalletError, cards, service

TOK = "ab" * 32


class FakeClient:
    """Records publishes with their retain flag; ``up=False`` fails them as paho does when disconnected."""

    def __init__(self):
        self.published = []
        self.up = True

    def publish(self, topic, payload, qos=0, retain=False):
        if self.up:
            self.published.append((topic, payload, qos, retain))
        return SimpleNamespace(rc=0 if self.up else 4)

    def subscribe(self, topics):
        pass

    def take(self):
        got, self.published = self.published, []
        return got


def connect(loop):
    loop._on_connect(loop.client, None, None, SimpleNamespace(is_failure=False), None)


@pytest.fixture
def ingest(app, master):
    app.config["INGEST_CONFIG_POLL_S"] = 0
    client = FakeClient()
    return IngestLoop(app.config, DeviceKeys(master, miss_s=0), client=client), client


def configs(published, key):
    out = {}
    for topic, payload, qos, retain in published:
        assert (qos, retain) == (1, True) and topic.endswith("/down/config")
        obj = frame.loads(frame.verify(topic, payload, key[topic.split("/")[1]]))
        out[topic.split("/")[1]] = envelope.validate(obj, topic.split("/")[1])
    return out


def test_nothing_is_pushed_while_disconnected(ingest, add):
    loop, client = ingest
    add("T1")
    loop._push_config()
    assert client.published == []


def test_a_connected_ingest_records_its_limits_and_pushes_every_device(ingest, add, app):
    loop, client = ingest
    keys = {"T1": add("T1"), "T2": add("T2")}
    connect(loop)
    loop._push_config()
    got = configs(client.take(), keys)
    assert sorted(got) == ["T1", "T2"]
    assert (got["T1"]["card"], got["T1"]["term"], got["T1"]["frozen"]) == (20000, 100000, [])

    service.open_account(TOK, actor="cli:root")
    cards.freeze(TOK, "cli:root", "lost")  # another process's change: the version rises in the database
    loop._push_config()
    got = configs(client.take(), keys)
    assert got["T1"]["frozen"] == [TOK] and got["T2"]["cfg"] == pushconfig.version()
    loop._push_config()
    assert client.published == []

    client.up = False
    connect(loop)  # a reconnect: the broker may have lost the retained configs
    loop._push_config()
    client.up = True
    loop._push_config()
    assert sorted(configs(client.take(), keys)) == ["T1", "T2"]


def test_a_bad_offline_limits_setting_stops_the_ingest_with_a_clear_error(app, master):
    app.config["WALLET_OFFLINE_LIMITS"] = '{"card": 1}'
    with pytest.raises(WalletError, match="WALLET_OFFLINE_LIMITS"):
        IngestLoop(app.config, DeviceKeys(master), client=FakeClient())


def test_status_frames_carry_tags_only_when_given(add):
    key = add("T1")
    status = {"cust": "C1", "pts": 5, "tier": "gold", "new": False}
    topic, payload = answers.status_frame("T1", key, "sid", 1, dict(status, tags=["vip", "high_risk"]))
    assert envelope.validate(frame.loads(frame.verify(topic, payload, key)), "T1")["tags"] == ["vip", "high_risk"]
    topic, payload = answers.status_frame("T1", key, "sid", 1, status)
    assert "tags" not in frame.loads(frame.verify(topic, payload, key))


def test_a_config_frame_is_what_the_envelope_accepts(add):
    key = add("T1")
    c = {"cfg": 9, "ts": 1700000000, "card": 1, "term": 2, "all": False, "frozen": [TOK]}
    topic, payload = answers.config_frame("T1", key, c)
    assert topic == "pos/T1/down/config"
    assert envelope.validate(frame.loads(frame.verify(topic, payload, key)), "T1") == dict(
        c, v=1, dev="T1", kind="config")
