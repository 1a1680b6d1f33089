"""IngestLoop without a broker: a fake paho client records what would be published and PUBACKed."""

import threading
import time

from peewee import OperationalError
from prometheus_client import REGISTRY

from protocol import frame
from server.ingest import loop as loopmod
from server.ingest.keycache import DeviceKeys
from server.ingest.loop import Inbound, IngestLoop
from server.ingest.models import Record
from server.loyalty import service


class FakeClient:
    def __init__(self):
        self.published = []
        self.acked = []
        self.event = threading.Event()

    def publish(self, topic, payload, qos=0):
        self.published.append((topic, payload, qos))
        self.event.set()

    def ack(self, mid, qos):
        self.acked.append(mid)

    def connect_async(self, *a, **k):
        pass

    def loop_start(self):
        pass

    def loop_stop(self):
        pass

    def disconnect(self):
        pass


def counter(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make(app, master):
    client = FakeClient()
    return IngestLoop(app.config, DeviceKeys(master, miss_s=0), client=client), client


def inbound(topic, payload, mid, gen=0, qos=1):
    return Inbound(time.monotonic(), gen, topic, payload, mid, qos)


def answers(client, key):
    """Published answers as (suffix, body dict), each checked against the device key."""
    out = []
    for topic, payload, qos in client.published:
        assert qos == 1
        out.append((topic.split("/", 2)[2], frame.loads(frame.verify(topic, payload, key))))
    return out


def test_sale_is_committed_then_acked_with_a_status_and_pubacked(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1, tok=mk.tok(1))), mid=11)])
    got = answers(client, key)
    assert got[0] == ("down/ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 1, "also": []})
    suffix, status = got[1]
    assert suffix == "down/status" and status["for"] == "seq" and status["id"] == 1
    assert status["pts"] == 12 and status["earned"] == 12 and status["new"] is True and status["cust"].startswith("C")
    assert client.acked == [11]
    assert Record.select().count() == 1


def test_swipe_is_answered_without_storing_anything(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    swipe = [("sid", 4), ("ts", 1), ("tok", mk.tok(9)), ("bin", "622848"), ("last4", "1234")]
    loop.process([inbound(*mk.signed("T1", key, "up/swipe", "swipe", swipe), mid=5)])
    [(suffix, status)] = answers(client, key)
    assert suffix == "down/status" and status["for"] == "sid" and status["id"] == 4
    assert status["cust"] == "" and status["new"] is True
    assert client.acked == [5] and Record.select().count() == 0


def test_rejected_frames_are_counted_pubacked_and_never_answered(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    before = counter("possync_ingest_rejects_total", reason="bad_mac")
    topic, payload = mk.signed("T1", b"\x00" * 32, "up/tx", "sale", mk.sale(1))
    loop.process([inbound(topic, payload, mid=7)])
    assert counter("possync_ingest_rejects_total", reason="bad_mac") == before + 1
    assert client.published == [] and client.acked == [7]


def test_conflict_is_not_acked_but_duplicate_is(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1, amount=100)), mid=1)])
    client.published.clear()
    conflicts = counter("possync_ingest_rejects_total", reason="seq_conflict")
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1, amount=200)), mid=2)])
    assert client.published == [] and client.acked == [1, 2]
    assert counter("possync_ingest_rejects_total", reason="seq_conflict") == conflicts + 1
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1, amount=100)), mid=3)])
    # the stored body's resend is acked by name; upto stays below the conflicting seq
    assert answers(client, key) == [("down/ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 0, "also": [1]})]


def test_frames_from_an_earlier_connection_are_not_pubacked(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    loop._gen = 2
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1)), mid=1, gen=1),
                  inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(2)), mid=2, gen=2)])
    assert client.acked == [2]
    assert answers(client, key)[0][1]["upto"] == 2


def test_a_bug_in_one_frame_does_not_stop_the_others(app, master, add, mk, monkeypatch):
    key = add("T1")
    loop, client = make(app, master)
    real = service.apply_txs

    def broken(txs, now=None):
        if any(tx["seq"] == 2 for tx in txs):
            raise RuntimeError("bug")
        return real(txs, now)

    monkeypatch.setattr(service, "apply_txs", broken)
    internal = counter("possync_ingest_rejects_total", reason="internal")
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(s)), mid=s) for s in (1, 2, 3)])
    assert counter("possync_ingest_rejects_total", reason="internal") == internal + 1
    assert sorted(r.seq for r in Record.select()) == [1, 3]
    assert sorted(client.acked) == [1, 2, 3]
    acks = [(body["upto"], body["also"]) for suffix, body in answers(client, key) if suffix == "down/ack"]
    assert acks == [(1, [3])]


def test_database_outage_is_retried_and_nothing_is_acked_before_the_commit(app, master, add, mk, monkeypatch):
    key = add("T1")
    loop, client = make(app, master)
    real = loopmod.apply_batch
    calls = []

    def flaky(*args):
        calls.append(len(client.acked))
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(*args)

    monkeypatch.setattr(loopmod, "apply_batch", flaky)
    loop.process([inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1)), mid=1)])
    assert calls == [0, 0] and client.acked == [1]
    assert Record.select().count() == 1


def test_heartbeat_and_state_through_the_worker_thread(app, master, add, mk):
    key = add("T1")
    loop, client = make(app, master)
    loop.start()
    try:
        hb = [("ts", 1), ("ver", "1.2.3"), ("depth", 4), ("oldest", 9), ("up", 60), ("full", False)]
        loop.queue.put(inbound(*mk.signed("T1", key, "up/hb", "hb", hb), mid=0, qos=0))
        loop.queue.put(inbound("pos/T1/state", b"online", mid=8))
        loop.queue.put(inbound(*mk.signed("T1", key, "up/tx", "sale", mk.sale(1)), mid=9))
        assert client.event.wait(5)
    finally:
        loop.stop()
    assert sorted(client.acked) == [8, 9]
    device = app.test_client().get("/api/devices").get_json()[0]
    assert (device["state"], device["version"], device["depth"], device["acked_upto"]) == ("online", "1.2.3", 4, 1)
