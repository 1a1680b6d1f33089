"""Real parts for the tests: a private Mosquitto, ports, process control. Fixtures live in conftest.py."""

import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tty
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_USER = "server"
SERVER_PASSWORD = "server-test-password"


def free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listening on port %d after %.0fs" % (port, timeout))


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """End a process we started, by its own pid; escalate to SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class Mosquitto:
    """A private Mosquitto 2.x on a free loopback port with a password file and the DESIGN.md §2 ACL."""

    ACL = (
        "user " + SERVER_USER + "\n"
        "topic readwrite pos/#\n"
        "topic read $share/#\n"
        "\n"
        "pattern write pos/%u/up/#\n"
        "pattern readwrite pos/%u/state\n"
        "pattern read pos/%u/down/#\n"
    )

    def __init__(self, workdir, persistence=True):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.passwd = os.path.join(workdir, "passwd")
        self.users = {}
        self.proc = None
        open(self.passwd, "w").close()
        with open(os.path.join(workdir, "acl"), "w") as f:
            f.write(self.ACL)
        with open(os.path.join(workdir, "mosquitto.conf"), "w") as f:
            f.write(
                "user root\n"
                "per_listener_settings false\n"
                "allow_anonymous false\n"
                "listener %d 127.0.0.1\n"
                "password_file %s\n"
                "acl_file %s\n"
                "persistence %s\n"
                "persistence_location %s/\n"
                "autosave_interval 1\n"
                "max_queued_messages 100000\n"
                "max_inflight_messages 100\n"
                "log_dest file %s/mosquitto.log\n"
                "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                % (self.port, self.passwd, os.path.join(workdir, "acl"),
                   "true" if persistence else "false", workdir, workdir)
            )
        self.server_user = SERVER_USER
        self.server_password = SERVER_PASSWORD
        self.add_user(SERVER_USER, SERVER_PASSWORD)

    def add_user(self, name, password):
        """Add or replace a broker user; a running broker reloads its password file."""
        subprocess.run(["mosquitto_passwd", "-b", self.passwd, name, password], check=True)
        self.users[name] = password
        self.reload()

    def reload(self):
        """Make a running broker read its password file again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)

    def start(self):
        """Start (or restart) the broker on the same port and state."""
        self.proc = subprocess.Popen(["mosquitto", "-c", os.path.join(self.dir, "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def kill(self):
        """kill -9 the broker (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)

    def log(self):
        with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
            return f.read()



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

    def cli(self, *args):
        """Run `possync-server ARGS --config ...`; return the completed process (checked)."""
        run = subprocess.run([console("possync-server")] + list(args) + ["--config", self.config],
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
            if isinstance(value, dict):
                cfg.setdefault(key, {}).update(value)
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

