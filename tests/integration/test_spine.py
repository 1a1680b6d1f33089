"""The spine end to end: real Mosquitto (password file + ACL), real server and agent processes, real files.

Each test is one promise of issue 3: points on the display, nothing lost and nothing
applied twice across kill -9 of agent, broker and server, every bad frame refused
with its reason, and a full outbox that never loses what it stored.
"""

import json
import os
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from agent.core import display, layout
from protocol import envelope, frame, topics
from realparts import wait_for

pytestmark = pytest.mark.integration

CARD = b";4111111111111111=28121010000000000000?\r\n"


def applied(server, dev):
    """(seq, ref) of every record the server applied for ``dev``."""
    return server.query("SELECT seq, ref FROM record WHERE dev = ? ORDER BY seq", dev)


def assert_exactly_once(server, dev, stored_refs, carded_at_least=1):
    """Every stored ref applied once; every carded record earned points exactly once; balances add up."""
    rows = applied(server, dev)
    refs = [ref for _, ref in rows]
    assert len(refs) == len(set(refs)), "a record was applied twice"
    missing = set(stored_refs) - set(refs)
    assert not missing, "stored but never applied: %s" % sorted(missing)[:10]
    carded = server.query("SELECT seq, amount FROM record WHERE dev = ? AND tok IS NOT NULL ORDER BY seq", dev)
    assert len(carded) >= carded_at_least, "too few sales carried a card to check the points ledger"
    ledger = server.query("SELECT seq, delta FROM pointsentry WHERE dev = ? ORDER BY seq", dev)
    assert ledger == [(seq, amount // 100) for seq, amount in carded]
    assert server.query("SELECT c.id FROM customer c LEFT JOIN pointsentry p ON p.customer = c.id "
                        "GROUP BY c.id HAVING c.points != COALESCE(SUM(p.delta), 0)") == []


def assert_no_pan(paths, pan=b"4111111111111111"):
    for path in paths:
        if os.path.exists(path):
            with open(path, "rb") as f:
                assert pan not in f.read(), "the card number reached %s" % path


def test_swipe_shows_customer_points_on_the_display(system):
    t1 = system.agent("T1")
    t1.swipe(CARD)
    pos = t1.pos()
    reply = pos.request(op="sale", ref="R1", amount=12_50, cur="CNY")
    assert reply["ok"] and reply["stored"] and reply["seq"] == 1
    sale_status = pos.wait_event(lambda e: e.get("for") == "seq" and e.get("id") == 1)
    assert sale_status["pts"] == 12 and sale_status["earned"] == 12
    # the next visit: the swipe's own answer puts the balance on the display, byte for byte
    shown = display.show({"pts": 12, "earned": 0, "tier": "basic", "new": False}, "en", "ascii")
    t1.swipe(CARD, answered=shown)
    assert shown != display.show({"pts": 12, "earned": 12, "tier": "basic"}, "en", "ascii")
    (points,), = system.server.query("SELECT points FROM customer")
    assert points == 12
    assert_exactly_once(system.server, "T1", ["R1"])
    pos.close()
    t1.stop()
    system.server.stop()
    assert_no_pan([t1.outbox, os.path.join(t1.dir, "agent.out"), os.path.join(system.server.dir, "server.out"),
                   system.server.db_path, system.server.db_path + "-wal"])


def test_agent_kill9_while_writing_loses_nothing_stored(system):
    t1 = system.agent("T1")
    stored, sent = [], []
    stop = threading.Event()

    def pos_app(prefix):
        pos = t1.pos()
        i = 0
        try:
            while not stop.is_set():
                if i % 5 == 0:
                    t1.swipe(CARD, answered=None)  # a customer card now and then: those sales earn points
                    time.sleep(0.05)
                ref = "%s%d" % (prefix, i)
                sent.append(ref)
                if pos.request(op="sale", ref=ref, amount=100 + i, cur="CNY")["stored"]:
                    stored.append(ref)
                i += 1
        except (ConnectionError, OSError, ValueError):
            pass  # the agent died under us: this sale's fate is unknown to the POS

    writer = threading.Thread(target=pos_app, args=("A",))
    writer.start()
    wait_for(lambda: len(stored) >= 40, what="40 stored sales")
    t1.kill()  # SIGKILL while the POS is writing
    writer.join(10)
    t1.start()
    stop.clear()
    writer = threading.Thread(target=pos_app, args=("B",))
    writer.start()
    wait_for(lambda: any(r.startswith("B") for r in stored[-5:]) and len(stored) >= 60, what="more sales after restart")
    stop.set()
    writer.join(10)
    wait_for(lambda: set(stored) <= {ref for _, ref in applied(system.server, "T1")}, timeout=60,
             what="every stored sale to reach the server")
    assert_exactly_once(system.server, "T1", stored)
    assert {ref for _, ref in applied(system.server, "T1")} <= set(sent)


def test_broker_down_outbox_grows_then_drains(system):
    t1 = system.agent("T1")
    pos = t1.pos()
    stored = []
    for i in range(10):
        t1.swipe(CARD)
        assert pos.request(op="sale", ref="B%d" % i, amount=500, cur="CNY")["stored"]
        stored.append("B%d" % i)
    wait_for(lambda: len(applied(system.server, "T1")) == 10, what="the first 10 sales")
    system.broker.kill()
    wait_for(lambda: not pos.request(op="status")["connected"], what="the agent to notice the broker is gone")
    for i in range(10, 40):
        if i % 3 == 0:
            t1.swipe(CARD, answered=None)  # offline: the card is still attached to the next sale
            time.sleep(0.05)
        assert pos.request(op="sale", ref="B%d" % i, amount=500, cur="CNY")["stored"]
        stored.append("B%d" % i)
    assert pos.request(op="status")["depth"] >= 30
    time.sleep(2)
    system.broker.start()
    wait_for(lambda: pos.request(op="status")["depth"] == 0, timeout=60, what="the outbox to drain")
    assert_exactly_once(system.server, "T1", stored, carded_at_least=15)
    assert len(applied(system.server, "T1")) == 40
    pos.close()


def test_server_killed_after_commit_before_ack_applies_once(system):
    system.server.stop()
    system.server.start(env={"POSSYNC_FAULT": "kill_after_commit"})
    t1 = system.agent("T1")
    pos = t1.pos()
    t1.swipe(CARD)
    reply = pos.request(op="sale", ref="K1", amount=2000, cur="CNY")
    assert reply["stored"]
    wait_for(lambda: system.server.proc.poll() is not None, what="the server to die right after its commit")
    assert [ref for _, ref in applied(system.server, "T1")] == ["K1"]
    assert pos.request(op="status")["depth"] == 1  # committed, but never acknowledged
    system.server.start()
    wait_for(lambda: pos.request(op="status")["depth"] == 0, timeout=60, what="the resent record to be acked")
    assert_exactly_once(system.server, "T1", ["K1"])
    (points,), = system.server.query("SELECT points FROM customer")
    assert points == 20
    assert system.server.metric("possync_ingest_rejects_total", reason="duplicate") >= 1
    pos.close()


class Device:
    """A paho client logged in as a device, publishing frames we craft by hand."""

    def __init__(self, broker, user, password):
        connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user + "-forger")
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert connected.wait(10), "broker refused %s" % user

    def publish(self, topic, payload):
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_bad_frames_are_rejected_with_their_reason(system, tmp_path):
    server, broker = system.server, system.broker
    with open(server.add_device("T1", str(tmp_path / "T1"))) as f:
        t1 = json.load(f)
    with open(server.add_device("T3", str(tmp_path / "T3"))) as f:
        t3 = json.load(f)
    key = bytes.fromhex(t1["key_hex"])
    up = topics.topic("T1", "up/tx")
    card = [("tok", "ab" * 32), ("bin", "411111"), ("last4", "1111")]

    def sale(dev, seq, ref="F", extra=()):
        return envelope.build("sale", dev, [("seq", seq), ("ts", 1), ("ref", ref), ("amount", 100), ("cur", "CNY")]
                              + list(extra))

    # the server's view of T1's topic, to prove what the broker lets through
    seen = []
    spy = Device(broker, broker.server_user, broker.server_password)
    spy.client.on_message = lambda c, u, m: seen.append(m.payload.split(b"\n")[0])
    spy.client.subscribe(up, qos=1)

    dev = Device(broker, "T1", t1["mqtt"]["password"])
    good = frame.sign(up, sale("T1", 1), key)
    dev.publish(up, good)
    wait_for(lambda: applied(server, "T1"), what="the genuine frame")
    cases = [
        ("bad_mac", frame.sign(up, sale("T1", 2, extra=card), b"not the device key")),
        ("duplicate", good),  # an exact replay
        ("seq_conflict", frame.sign(up, sale("T1", 1, ref="OTHER"), key)),
        ("wrong_device", frame.sign(up, sale("T3", 3), key)),
        ("malformed", frame.sign(up, b'{"v":1,"dev":"T1",', key)),
        ("malformed", b'{"v":1,"dev":"T1","kind":"sale"} and no MAC at all'),
        ("oversize", b"x" * (frame.MAX_FRAME + 10)),
        ("bad_version", frame.sign(up, sale("T1", 4, extra=card).replace(b'"v":1', b'"v":9'), key)),
    ]
    for _, payload in cases:
        dev.publish(up, payload)
    dev.close()
    # unknown device: a broker user the server never registered
    broker.add_user("GHOST", "ghost-pw")
    ghost = Device(broker, "GHOST", "ghost-pw")
    ghost_up = topics.topic("GHOST", "up/tx")
    ghost.publish(ghost_up, frame.sign(ghost_up, sale("GHOST", 1), key))
    ghost.close()
    # revoked device
    server.cli("device", "revoke", "T3")
    t3dev = Device(broker, "T3", t3["mqtt"]["password"])
    t3_up = topics.topic("T3", "up/tx")
    t3dev.publish(t3_up, frame.sign(t3_up, sale("T3", 1), bytes.fromhex(t3["key_hex"])))
    # the broker ACL: T3 cannot publish on T1's topic at all, even a frame T1 signed
    t3dev.publish(up, frame.sign(up, sale("T1", 2, ref="VIA-T3"), key))
    t3dev.close()
    dev = Device(broker, "T1", t1["mqtt"]["password"])
    dev.publish(up, frame.sign(up, sale("T1", 3, ref="AFTER"), key))  # published after T3's was PUBACKed
    dev.close()
    wait_for(lambda: len(applied(server, "T1")) == 2, what="T1's own frame after the denied one")
    wait_for(lambda: any(b'"AFTER"' in body for body in seen), what="the spy to see T1's frame")
    spy.close()
    assert not any(b"VIA-T3" in body for body in seen), "the broker let T3 publish on T1's topic"
    assert applied(server, "T1") == [(1, "F"), (3, "AFTER")]
    assert applied(server, "T3") == [] and applied(server, "GHOST") == []

    expected = {}
    for reason, _ in cases:
        expected[reason] = expected.get(reason, 0) + 1
    expected.update(unknown_device=1, revoked_device=1)
    for reason, count in expected.items():
        wait_for(lambda: server.metric("possync_ingest_rejects_total", reason=reason) >= count, timeout=15,
                 what="%d rejection(s) counted as %s" % (count, reason))
    time.sleep(0.5)
    for reason, count in expected.items():
        assert server.metric("possync_ingest_rejects_total", reason=reason) == count, reason
    out = server.output()
    for reason in expected:
        assert reason in out, "rejection %s was not logged" % reason
    for secret in ("ab" * 32, "411111"):
        assert secret not in out, "a rejected frame's card fields reached the log"


def test_outbox_full_tells_the_pos_and_keeps_what_it_stored(system):
    system.server.stop()
    t1 = system.agent("T1", outbox={"max_count": 5})
    pos = t1.pos()
    t1.swipe(CARD, answered=None)
    time.sleep(0.2)
    for i in range(5):
        assert pos.request(op="sale", ref="O%d" % i, amount=300, cur="CNY")["stored"]
    reply = pos.request(op="sale", ref="O5", amount=300, cur="CNY")
    assert reply["ok"] and reply["stored"] is False and reply["error"] == "outbox_full"
    assert "NOT stored" in reply["message"]
    line1, _ = layout.render_message("outbox_full", "en")
    assert line1.encode() in t1.read_display(line1.encode())
    assert pos.request(op="status")["full"] is True
    system.server.start()
    wait_for(lambda: pos.request(op="status")["depth"] == 0, timeout=60, what="the full outbox to drain")
    assert_exactly_once(system.server, "T1", ["O%d" % i for i in range(5)])
    assert "O5" not in {ref for _, ref in applied(system.server, "T1")}
    assert pos.request(op="sale", ref="O6", amount=300, cur="CNY")["stored"]
    pos.close()
