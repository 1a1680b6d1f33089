"""Real parts for the tests: a private Mosquitto, ports, process control. Fixtures live in conftest.py."""

import json
import os
import select
import socket
import sqlite3
import subprocess
import sys
import time
import tty
import urllib.error
import urllib.request

from bench import broker
from bench.broker import free_port, stop_process, wait_port  # noqa: F401 (re-exported for tests)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_PASSWORD = "server-test-password"


class Mosquitto(broker.Mosquitto):
    """The bench's private Mosquitto, logged in as the server with the tests' password."""

    def __init__(self, workdir, persistence=True):
        super().__init__(workdir, SERVER_PASSWORD, persistence)


def file_bytes(paths):
    """The bytes of every file in ``paths`` that exists, one after another (to scan them for what must not be there)."""
    out = b""
    for path in paths:
        try:
            with open(path, "rb") as f:
                out += f.read()
        except FileNotFoundError:
            pass
    return out


def wait_for(predicate, timeout=30.0, what="condition"):
    """Poll ``predicate`` until it returns a true value and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))


def console(name):
    """Path of one of our console scripts, installed next to the test interpreter."""
    return os.path.join(os.path.dirname(sys.executable), name)


class Proc:
    """One of our console scripts run as a real process, its output kept in ``dir/NAME.out``."""

    name = "proc"
    dir = None
    proc = None

    def spawn(self, args, env=None):
        out = open(os.path.join(self.dir, self.name + ".out"), "ab")
        self.proc = subprocess.Popen([console("possync-" + self.name)] + args, env=env,
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return self.proc

    def kill(self):
        """kill -9: a crash, not a shutdown."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)

    def output(self):
        with open(os.path.join(self.dir, self.name + ".out"), errors="replace") as f:
            return f.read()


class ServerProc(Proc):
    """A real `possync-server run` process on a real SQLite file, against a given broker."""

    name = "server"

    def __init__(self, workdir, broker, env=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.broker = broker
        self.http_port = free_port()
        self.db_path = os.path.join(workdir, "possync.db")
        self.token_key = os.path.join(workdir, "token.key")
        self.config = os.path.join(workdir, "server.json")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        with open(self.config, "w") as f:
            json.dump({"DATABASE_URL": "sqlite:///" + self.db_path,
                       "SECRET_KEY_FILE": os.path.join(workdir, "secret.key"),
                       "MQTT_HOST": "127.0.0.1", "MQTT_PORT": broker.port,
                       "MQTT_USERNAME": broker.server_user, "MQTT_PASSWORD": broker.server_password,
                       "MQTT_SHARED": True, "MQTT_CLIENT_ID": "possync-ingest-test",
                       "HTTP_HOST": "127.0.0.1", "HTTP_PORT": self.http_port}, f)

    def cli(self, *args, input=None):
        """Run `possync-server ARGS --config ...` (``input`` on its stdin); return the completed process (checked)."""
        run = subprocess.run([console("possync-server")] + list(args) + ["--config", self.config], input=input,
                             capture_output=True, text=True, env=self.env, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    def add_device(self, dev, agent_dir, **agent_overrides):
        """Register a terminal on the server and the broker; return the path of its agent config."""
        path = os.path.join(agent_dir, dev + ".json")
        os.makedirs(agent_dir, exist_ok=True)
        self.cli("device", "add", dev, "--agent-config", path, "--token-key-file", self.token_key,
                 "--mqtt-port", str(self.broker.port), "--outbox", os.path.join(agent_dir, dev + ".outbox"),
                 "--mosquitto-passwd", self.broker.passwd)
        self.broker.reload()
        with open(path) as f:
            cfg = json.load(f)
        for key, value in agent_overrides.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def start(self, env=None):
        self.spawn(["run", "--config", self.config], env=dict(self.env, **(env or {})))
        wait_port(self.http_port, timeout=20, proc=self.proc)
        return self


    def get(self, path):
        """GET a path of the web app; return (status, body text)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name, **labels):
        """Current value of one Prometheus sample from /metrics (0 when absent)."""
        _, text = self.get("/metrics")
        want = name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            sample, _, value = line.rpartition(" ")
            if sample == want:
                return float(value)
        return 0.0

    def query(self, sql, *args):
        """Read the server's SQLite file directly (a second, read-only connection)."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


class PosClient:
    """The POS application's side of the agent's JSON-lines socket."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rwb")
        self.events = []

    def request(self, **req):
        """Send one request; return its reply (asynchronous events are kept in ``events``)."""
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("agent closed the POS connection")
            msg = json.loads(line)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def wait_event(self, predicate, timeout=15.0):
        """Read pushed lines until an event satisfies ``predicate``; return it."""
        for event in self.events:
            if predicate(event):
                return event
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.file.readline()
            if not line:
                raise ConnectionError("agent closed the POS connection")
            event = json.loads(line)
            self.events.append(event)
            if predicate(event):
                return event
        raise TimeoutError("no matching event from the agent in %.0fs: %s" % (timeout, self.events[-5:]))

    def close(self):
        self.file.close()
        self.sock.close()


class AgentProc(Proc):
    """A real `possync-agent run` process whose card reader and display are pseudo-terminals."""

    name = "agent"

    def __init__(self, config_path, workdir, lang="en", charset="ascii"):
        self.config = config_path
        self.dir = workdir
        self.proc = None
        self.reader_master, reader_slave = os.openpty()
        self.display_master, display_slave = os.openpty()
        self._slaves = (reader_slave, display_slave)
        for fd in (self.reader_master, self.display_master):
            tty.setraw(fd)
        for fd in self._slaves:
            tty.setraw(fd)
        with open(config_path) as f:
            cfg = json.load(f)
        cfg["reader"] = {"port": os.ttyname(reader_slave), "baud": 9600}
        cfg["display"] = {"port": os.ttyname(display_slave), "baud": 9600, "lang": lang, "charset": charset}
        cfg["pos"] = {"host": "127.0.0.1", "port": free_port()}
        self.pos_port = cfg["pos"]["port"]
        self.outbox = cfg["outbox"]["path"]
        with open(config_path, "w") as f:
            json.dump(cfg, f)
        self.display_bytes = b""

    def start(self, connected=True):
        """Start the agent; with ``connected``, wait until its MQTT session is up."""
        self.spawn(["run", "--config", self.config])
        wait_port(self.pos_port, timeout=20, proc=self.proc)
        if connected:
            pos = self.pos()
            deadline = time.monotonic() + 20
            while not pos.request(op="status")["connected"]:
                if time.monotonic() > deadline:
                    raise TimeoutError("agent did not connect to the broker in 20s:\n" + self.output()[-2000:])
                time.sleep(0.05)
            pos.close()
        return self

    def swipe(self, track_bytes, answered=b"Points:"):
        """Pass a card through the reader and wait until the display shows the server's answer."""
        self.display_bytes = b""
        os.write(self.reader_master, track_bytes)
        if answered and answered not in self.read_display(answered):
            raise AssertionError("the display never showed %r after a swipe: %r" % (answered, self.display_bytes))

    def swipe_status(self, track_bytes, pos):
        """Pass a card through the reader and return its own status event at PosClient ``pos`` (the display
        may still show an earlier one)."""
        before = max([e["id"] for e in pos.events if e.get("for") == "sid"] or [0])
        self.swipe(track_bytes, answered=None)
        return pos.wait_event(lambda e: e.get("for") == "sid" and e["id"] > before)

    def read_display(self, until, timeout=15.0):
        """Collect display bytes until ``until`` (bytes) has appeared; return everything seen."""
        deadline = time.monotonic() + timeout
        while until not in self.display_bytes and time.monotonic() < deadline:
            ready, _, _ = select.select([self.display_master], [], [], 0.1)
            if ready:
                self.display_bytes += os.read(self.display_master, 4096)
        return self.display_bytes

    def pos(self):
        return PosClient(self.pos_port)


    def close(self):
        self.stop()
        for fd in (self.reader_master, self.display_master) + self._slaves:
            try:
                os.close(fd)
            except OSError:
                pass

