"""A running `possync-server run` against a real Mosquitto: signed answers come back to the terminal."""

import json
import queue
import time

import paho.mqtt.client as mqtt
import pytest

from protocol import envelope, frame, topics
from realparts import ServerProc

pytestmark = pytest.mark.integration

TOK = "ab" * 32


@pytest.fixture
def server(mosquitto, tmp_path):
    proc = ServerProc(str(tmp_path / "server"), mosquitto).start()
    deadline = time.monotonic() + 15
    while proc.get("/healthz")[0] != 200:
        assert time.monotonic() < deadline, "server not healthy:\n" + proc.output()
        time.sleep(0.1)
    yield proc
    proc.stop()


class Terminal:
    """A bare paho client speaking the wire protocol as a device enrolled by `device add`."""

    def __init__(self, server, dev, agent_dir):
        with open(server.add_device(dev, agent_dir)) as f:
            cfg = json.load(f)
        self.dev, self.key = dev, bytes.fromhex(cfg["key_hex"])
        self.down = queue.Queue()
        subscribed = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=dev + "-test")
        self.client.username_pw_set(dev, cfg["mqtt"]["password"])
        self.client.on_message = lambda c, u, m: self.down.put((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("pos/%s/down/#" % dev, qos=1)
        self.client.connect("127.0.0.1", cfg["mqtt"]["port"])
        self.client.loop_start()
        subscribed.get(timeout=10)

    def send(self, suffix, kind, pairs):
        topic = topics.topic(self.dev, suffix)
        body = envelope.build(kind, self.dev, pairs)
        self.client.publish(topic, frame.sign(topic, body, self.key), qos=1).wait_for_publish(5)

    def answer(self, timeout=10):
        """The next down frame but the pushed config, its MAC checked with the device key, as (suffix, body)."""
        while True:
            topic, payload = self.down.get(timeout=timeout)
            suffix = topic.split("/", 2)[2]
            # down/config: retained, sent at enrolment and on every hot-list change, emptied on revocation
            if suffix != "down/config":
                return suffix, envelope.validate(frame.loads(frame.verify(topic, payload, self.key)), self.dev)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def sale(seq, ref, amount, tok=None):
    pairs = [("seq", seq), ("ts", 1700000000 + seq), ("ref", ref), ("amount", amount), ("cur", "CNY")]
    return pairs + ([("tok", tok), ("bin", "622848"), ("last4", "1234")] if tok else [])


def test_signed_sale_gets_a_signed_ack_and_status(server, tmp_path):
    term = Terminal(server, "T1", str(tmp_path / "T1"))
    try:
        term.send("up/swipe", "swipe", [("sid", 1), ("ts", 1700000000), ("tok", TOK), ("bin", "622848"), ("last4", "1234")])
        suffix, status = term.answer()
        assert suffix == "down/status" and (status["for"], status["id"], status["cust"]) == ("sid", 1, "")

        term.send("up/tx", "sale", sale(1, "POS-1", 25000, TOK))
        got = dict([term.answer(), term.answer()])
        assert (got["down/ack"]["upto"], got["down/ack"]["also"]) == (1, [])
        status = got["down/status"]
        assert (status["for"], status["id"], status["pts"], status["earned"], status["new"]) == ("seq", 1, 250, 250, True)

        term.send("up/tx", "sale", sale(1, "POS-1", 25000, TOK))  # a resend: acked again, applied once
        assert term.answer() == ("down/ack", {"v": 1, "dev": "T1", "kind": "ack", "upto": 1, "also": []})
    finally:
        term.close()
    sales = json.loads(server.get("/api/sales")[1])
    assert [(s["seq"], s["amount"], s["customer"]) for s in sales] == [(1, 25000, status["cust"])]
    assert server.metric("possync_ingest_rejects_total", reason="duplicate") == 1
    assert server.metric("possync_ingest_frames_total", kind="sale") == 2
    assert server.query("SELECT points FROM customer") == [(250,)]
    server.stop()
    assert server.proc.returncode == 0


def test_revocation_by_another_process_takes_effect_at_once(server, tmp_path):
    term = Terminal(server, "T2", str(tmp_path / "T2"))
    try:
        term.send("up/tx", "sale", sale(1, "A", 100))
        got = dict([term.answer(), term.answer()])  # no acquirer metadata: a MALFORMED warning comes too
        assert got["down/ack"]["upto"] == 1 and got["down/status"]["lic"] == "MALFORMED"
        server.cli("device", "revoke", "T2")
        term.send("up/tx", "sale", sale(2, "B", 100))
        with pytest.raises(queue.Empty):
            term.answer(timeout=3)
    finally:
        term.close()
    assert server.metric("possync_ingest_rejects_total", reason="revoked_device") == 1
    assert server.query("SELECT seq FROM record WHERE dev = 'T2'") == [(1,)]
