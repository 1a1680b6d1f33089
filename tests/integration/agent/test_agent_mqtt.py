"""A real `possync-agent run` process against a real Mosquitto; the test plays the server.

Card bytes go in on a reader pseudo-terminal, display bytes come out on another.
"""

import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import time
import tty

import paho.mqtt.client as paho
import pytest

from agent.core import display as core_display
from agent.linux.simulate import card_pool, track_bytes
from protocol import envelope, frame, mac
from realparts import free_port, stop_process, wait_port

pytestmark = pytest.mark.integration

KEY = bytes(range(32))
TOKEN_KEY = bytes(range(32, 64))
AGENT = os.path.join(os.path.dirname(sys.executable), "possync-agent")


class Pty:
    """A raw pseudo-terminal: the agent opens ``.path``, the test uses the master side."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def read_until(self, want, timeout=15.0):
        got = b""
        deadline = time.monotonic() + timeout
        while want not in got:
            left = deadline - time.monotonic()
            assert left > 0, "display never got %r; got %r" % (want, got)
            if select.select([self.master], [], [], left)[0]:
                got += os.read(self.master, 4096)
        return got


class Server:
    """The sync server's side of the wire, played by a paho client with the device key."""

    def __init__(self, broker, dev="T1"):
        self.dev = dev
        self.got = queue.Queue()
        ready = queue.Queue()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-server-%d" % os.getpid())
        c.username_pw_set(broker.server_user, broker.server_password)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("pos/%s/#" % dev, qos=1)
        c.on_subscribe = lambda *a: ready.put(True)
        c.on_message = lambda cl, u, m: self.got.put((m.topic, bytes(m.payload), m.retain))
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        ready.get(timeout=10)
        self.client = c

    def expect(self, suffix, timeout=20.0, where=None):
        """The next message on pos/{dev}/{suffix} (others skipped); up frames are verified and parsed."""
        deadline = time.monotonic() + timeout
        want = "pos/%s/%s" % (self.dev, suffix)
        while True:
            topic, payload, retain = self.got.get(timeout=max(0.01, deadline - time.monotonic()))
            if topic != want:
                continue
            if suffix == "state":
                if where is None or payload == where:
                    return payload
                continue
            body = frame.verify(topic, payload, KEY)
            obj = envelope.validate(frame.loads(body), self.dev)
            if where is None or where(obj):
                return obj, body

    def send(self, kind, pairs, key=KEY):
        t = "pos/%s/down/%s" % (self.dev, kind)
        info = self.client.publish(t, frame.sign(t, envelope.build(kind, self.dev, pairs), key), qos=1)
        info.wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Pos:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.file = self.sock.makefile("rb")
        self.events = []

    def call(self, **req):
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            obj = json.loads(self.file.readline())
            if "event" not in obj:
                return obj
            self.events.append(obj)

    def next_event(self):
        return self.events.pop(0) if self.events else json.loads(self.file.readline())

    def wait(self, pred, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            st = self.call(op="status")
            if pred(st):
                return st
            assert time.monotonic() < deadline, "timed out waiting for %s: %r" % (what, st)
            time.sleep(0.05)


@pytest.fixture
def terminal(tmp_path, mosquitto):
    """Start/restart a `possync-agent run` process for device T1 with reader and display ptys."""
    mosquitto.add_user("T1", "pw-T1")
    reader, disp = Pty(), Pty()
    procs = []
    logs = tmp_path / "agent.log"
    pos_port = free_port()

    def start(**over):
        cfg = {"device": "T1", "key_hex": KEY.hex(), "token_key_hex": TOKEN_KEY.hex(),
               "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "username": "T1", "password": "pw-T1",
                        "tls": None, "keepalive": 30},
               "outbox": {"path": str(tmp_path / "outbox.log"), "max_bytes": 1 << 20, "max_count": 1000},
               "pos": {"host": "127.0.0.1", "port": pos_port},
               "reader": {"port": reader.path, "baud": 9600},
               "display": {"port": disp.path, "baud": 9600, "lang": "en", "charset": "ascii"},
               "drop_dir": None, "currency": "CNY", "window": 32, "ack_timeout_s": 30, "heartbeat_s": 30,
               "swipe_ttl_s": 120}
        for k, v in over.items():
            cfg[k] = dict(cfg[k], **v) if isinstance(v, dict) else v
        path = tmp_path / "agent.json"
        path.write_text(json.dumps(cfg))
        with open(logs, "ab") as log:
            proc = subprocess.Popen([AGENT, "--log-level", "DEBUG", "run", "--config", str(path)],
                                    stdout=log, stderr=log)
        procs.append(proc)
        wait_port(pos_port, proc=proc)
        return proc, Pos(pos_port)

    start.reader, start.display, start.logs, start.broker = reader, disp, logs, mosquitto
    yield start
    for proc in procs:
        stop_process(proc)
    for p in (reader, disp):
        os.close(p.master)
        os.close(p.slave)


def test_sale_leaves_the_outbox_only_after_the_signed_ack_and_status_reaches_the_display(terminal):
    server = Server(terminal.broker)
    proc, pos = terminal()
    try:
        assert server.expect("state", where=b"online") == b"online"
        terminal.display.read_until(core_display.show_message("welcome", "en", "ascii"))

        # A swipe on the reader pty: published at once as a lookup, display shows "...".
        pan, name, exp = card_pool(1, 11)[0]
        os.write(terminal.reader.master, track_bytes(pan, name, exp) + b"\r")
        swipe, _ = server.expect("up/swipe")
        tok = mac.hexmac(TOKEN_KEY, pan.encode()).decode()
        assert (swipe["sid"], swipe["tok"], swipe["bin"], swipe["last4"]) == (1, tok, pan[:6], pan[-4:])
        terminal.display.read_until(core_display.frame_cd5220("...", "", "ascii"))
        server.send("status", [("for", "sid"), ("id", 1), ("cust", "C1"), ("pts", 300), ("earned", 0),
                               ("tier", "gold"), ("new", False)])
        terminal.display.read_until(core_display.show({"pts": 300, "earned": 0, "tier": "gold"}, "en", "ascii"))
        assert pos.next_event()["pts"] == 300

        # The sale carries the swipe's token; PUBACK alone does not delete it.
        assert pos.call(op="sale", ref="R1", amount=1250, cur="CNY") == {"ok": True, "stored": True, "seq": 1}
        tx, body = server.expect("up/tx")
        assert (tx["kind"], tx["seq"], tx["amount"], tx["tok"]) == ("sale", 1, 1250, tok)
        assert pos.call(op="status")["depth"] == 1

        # A forged ack (wrong key) is dropped and counted; the record stays.
        server.send("ack", [("upto", 1), ("also", [])], key=b"not the device key")
        st = pos.wait(lambda s: s["dropped_down"] == 1, "the forged ack to be dropped")
        assert st["depth"] == 1 and st["connected"] is True

        server.send("ack", [("upto", 1), ("also", [])])
        pos.wait(lambda s: s["depth"] == 0, "the signed ack to empty the outbox")
        server.send("status", [("for", "seq"), ("id", 1), ("cust", "C1"), ("pts", 425), ("earned", 125),
                               ("tier", "gold"), ("new", False)])
        terminal.display.read_until(core_display.show({"pts": 425, "earned": 125, "tier": "gold"}, "en", "ascii"))
        assert pos.next_event() == {"event": "status", "for": "seq", "id": 1, "cust": "C1", "pts": 425,
                                    "earned": 125, "tier": "gold", "new": False}

        # SIGTERM: a clean stop, and the retained state says offline.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert server.expect("state", where=b"offline") == b"offline"
    finally:
        server.close()
    log = terminal.logs.read_bytes()
    assert pan.encode() not in log and pan[6:12].encode() not in log
    with open(str(terminal.logs.parent / "outbox.log"), "rb") as f:
        assert pan.encode() not in f.read()


def test_kill_9_loses_nothing_and_the_backlog_is_resent_in_order(terminal):
    server = Server(terminal.broker)
    proc, pos = terminal()
    try:
        for i in range(3):
            assert pos.call(op="sale", ref="R%d" % i, amount=100 + i)["seq"] == i + 1
        first = [server.expect("up/tx")[1] for _ in range(3)]
        proc.kill()  # kill -9: no goodbye, the broker sends the will
        proc.wait()
        assert server.expect("state", where=b"offline") == b"offline"

        proc, pos = terminal()
        again = {}
        while len(again) < 3:
            obj, body = server.expect("up/tx")
            again[obj["seq"]] = body
        assert [again[s] for s in (1, 2, 3)] == first  # the same bytes, from the fsynced outbox
        server.send("ack", [("upto", 2), ("also", [])])
        pos.wait(lambda s: s["depth"] == 1, "seqs 1-2 to be acked")
        server.send("ack", [("upto", 0), ("also", [3])])
        pos.wait(lambda s: s["depth"] == 0, "seq 3 to be acked")
        assert pos.call(op="sale", ref="R9", amount=1)["seq"] == 4
    finally:
        server.close()


def test_reconnects_after_a_broker_crash_and_forwards_what_was_stored_meanwhile(terminal):
    proc, pos = terminal()
    pos.wait(lambda s: s["connected"], "the agent to connect")
    terminal.broker.kill()
    pos.wait(lambda s: not s["connected"], "the agent to notice the broker is gone")
    assert pos.call(op="sale", ref="R1", amount=5)["stored"] is True  # never blocked by the outage
    terminal.broker.start()
    server = Server(terminal.broker)
    try:
        tx, _ = server.expect("up/tx", timeout=40)
        assert tx["ref"] == "R1"
        server.send("ack", [("upto", tx["seq"]), ("also", [])])
        pos.wait(lambda s: s["depth"] == 0 and s["connected"], "the ack after the reconnect")
    finally:
        server.close()


def test_outbox_full_reaches_pos_display_and_heartbeat(terminal):
    server = Server(terminal.broker)
    proc, pos = terminal(outbox={"max_count": 1}, heartbeat_s=1)
    try:
        assert pos.call(op="sale", ref="R1", amount=1)["stored"] is True
        r = pos.call(op="sale", ref="R2", amount=1)
        assert (r["ok"], r["stored"], r["error"]) == (True, False, "outbox_full")
        terminal.display.read_until(core_display.show_message("outbox_full", "en", "ascii"))
        hb, _ = server.expect("up/hb", where=lambda h: h["full"])
        assert hb["depth"] == 1 and hb["ver"]
        server.send("ack", [("upto", 1), ("also", [])])
        server.expect("up/hb", where=lambda h: not h["full"] and h["depth"] == 0)
    finally:
        server.close()
