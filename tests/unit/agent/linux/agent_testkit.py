"""Helpers for the agent.linux tests: configs, pseudo-terminals, a runner in a thread, a POS client."""

import json
import os
import select
import socket
import threading
import time
import tty

import paho.mqtt.client as paho

from agent.core.outbox import Outbox
from agent.linux.simulate import card_pool, track_bytes
from protocol import envelope, frame

KEY_HEX = "11" * 32
TOKEN_KEY_HEX = "22" * 32


def make_config(tmp_path, mqtt_port, **over):
    """Write an agent config into ``tmp_path``; return (path, dict)."""
    cfg = {
        "device": "T1", "key_hex": KEY_HEX, "token_key_hex": TOKEN_KEY_HEX,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "username": "T1", "password": "pw-T1", "tls": None,
                 "keepalive": 30},
        "outbox": {"path": str(tmp_path / "state" / "outbox.log"), "max_bytes": 1 << 20, "max_count": 1000},
        "pos": {"host": "127.0.0.1", "port": 0},
        "reader": None, "display": None, "drop_dir": None, "currency": "CNY",
        "window": 32, "ack_timeout_s": 10, "heartbeat_s": 30, "swipe_ttl_s": 120,
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(cfg))
    return str(path), cfg


class Pty:
    """A pseudo-terminal in raw mode: the agent opens ``.path``, the test reads/writes ``.master``."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def write(self, data):
        os.write(self.master, data)

    def read_until(self, want, timeout=10.0):
        """Read from the master until ``want`` (bytes) has arrived; return everything read."""
        got = b""
        deadline = time.monotonic() + timeout
        while want not in got:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("display never got %r; got %r" % (want, got))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                got += os.read(self.master, 4096)
        return got

    def read_quiet(self, quiet=0.3):
        """Everything that arrives until the line has been quiet for ``quiet`` seconds."""
        got = b""
        while select.select([self.master], [], [], quiet)[0]:
            got += os.read(self.master, 4096)
        return got

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class RunnerThread:
    """A started Runner whose main loop runs in a thread until ``stop()``."""

    def __init__(self, runner):
        self.runner = runner.start()
        self.thread = threading.Thread(target=runner.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.runner.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


class PosClient:
    """A POS talking JSON lines to the agent; keeps pushed events apart from replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.events = []

    def send_raw(self, line):
        self.sock.sendall(line)
        return self._reply()

    def call(self, **req):
        return self.send_raw(json.dumps(req).encode() + b"\n")

    def send(self, **req):
        """Send a request without waiting for its reply (read it later with ``reply()``)."""
        self.sock.sendall(json.dumps(req).encode() + b"\n")

    def reply(self):
        """The next reply, keeping pushed events aside."""
        return self._reply()

    def _reply(self):
        while True:
            obj = self.next_line()
            if "event" not in obj:
                return obj
            self.events.append(obj)

    def next_line(self):
        line = self.file.readline()
        assert line, "the agent closed the POS connection"
        return json.loads(line)

    def next_event(self):
        if self.events:
            return self.events.pop(0)
        return self.next_line()

    def close(self):
        self.file.close()
        self.sock.close()


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def stored_bodies(cfg):
    """The JSON bodies of the records in a terminal's outbox file, oldest first."""
    o = Outbox(cfg["outbox"]["path"], cfg["outbox"]["max_bytes"], cfg["outbox"]["max_count"])
    try:
        return [json.loads(b) for _, b in o.pending()]
    finally:
        o.close()


def swipe(runner, n=0):
    """Pass test card ``n`` through the runner's reader and wait until it is read; return its PAN."""
    pan, name, exp = card_pool(n + 1, 7)[n]
    done = threading.Event()
    runner.inject_swipe(track_bytes(pan, name, exp), done)
    assert done.wait(5)
    return pan


def deliver(runner, kind, pairs, key=None, dev="T1", topic=None):
    """Hand the runner's MQTT session a down frame of ``kind`` as the broker would, signed with ``key``
    (default: the runner's own)."""
    topic = topic or "pos/T1/" + envelope.TOPIC_OF[kind]
    m = paho.MQTTMessage(topic=topic.encode())
    m.payload = frame.sign(topic, envelope.build(kind, dev, pairs), key or runner.cfg["key"])
    runner.session._on_message(runner.session.client, None, m)
